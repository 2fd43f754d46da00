/**
 * First-fit packing of gossip messages into datagrams, by their exact encoded sizes
 * (wire-size.ts): the runtime sends each group as one sealed datagram and the messages too
 * large for any datagram over a stream.
 */
import type { GossipMessage } from './messages.ts';
import { framedSize, packetBudget } from './wire-size.ts';

export interface PackResult {
  /** Groups of messages, each fitting one datagram. */
  readonly datagrams: GossipMessage[][];
  /** Messages too large for any datagram (sent over a stream instead). */
  readonly large: GossipMessage[];
}

/** First-fit packing of messages into datagrams of `packetBytes` (envelope included). */
export function packMessages(from: string, messages: readonly GossipMessage[], packetBytes: number): PackResult {
  const budget = packetBudget(packetBytes, from);
  const datagrams: GossipMessage[][] = [];
  const room: number[] = [];
  const large: GossipMessage[] = [];
  for (const m of messages) {
    const size = framedSize(m);
    if (size > budget) {
      large.push(m);
      continue;
    }
    let placed = false;
    for (let i = 0; i < datagrams.length; i++) {
      if (room[i]! >= size) {
        datagrams[i]!.push(m);
        room[i]! -= size;
        placed = true;
        break;
      }
    }
    if (!placed) {
      datagrams.push([m]);
      room.push(budget - size);
    }
  }
  return { datagrams, large };
}
