/**
 * How the runtime turns messages into what its transport carries, and back.
 *
 * sealedCodec: protobuf encoding (wire-codec.ts) inside the AES-256-GCM envelope (keyring.ts). This
 * is what every real node uses, and what tests of the full path use on a MemoryTransport.
 * Anything that does not authenticate or decode comes back as undefined and is counted.
 *
 * plaintextObjectCodec: passes the decoded objects through unchanged, for simulations of
 * thousands of nodes on a MemoryTransport that carries objects. The protocol, packing and
 * timing are identical; only the encoding and encryption cost is skipped. Never used with a
 * real transport (the types do not allow it).
 */
import { ENVELOPE_KIND_PACKET, ENVELOPE_KIND_STREAM, ENVELOPE_OVERHEAD } from './envelope.ts';
import type { Keyring } from './keyring.ts';
import type { GossipMessage, Packet, StreamFrame } from './messages.ts';
import { decodeFrame, decodePacket, encodeFrame, encodePacket } from './wire-codec.ts';
import { packetSize } from './wire-size.ts';

export interface CodecStats {
  /** Datagrams that did not authenticate (wrong key, tampered, truncated). */
  packetsUnauthenticated: number;
  /** Datagrams that authenticated but did not decode. */
  packetsMalformed: number;
  framesUnauthenticated: number;
  framesMalformed: number;
}

export interface Codec<D, F> {
  encodePacket(from: string, messages: readonly GossipMessage[]): D;
  decodePacket(data: D): Packet | undefined;
  encodeFrame(frame: StreamFrame): F;
  decodeFrame(data: F): StreamFrame | undefined;
  readonly stats: CodecStats;
}

function newStats(): CodecStats {
  return { packetsUnauthenticated: 0, packetsMalformed: 0, framesUnauthenticated: 0, framesMalformed: 0 };
}

export function sealedCodec(keyring: Keyring): Codec<Uint8Array, Uint8Array> {
  const stats = newStats();
  return {
    stats,
    encodePacket: (from, messages) => keyring.seal(ENVELOPE_KIND_PACKET, encodePacket(from, messages)),
    decodePacket(data) {
      const plain = keyring.open(ENVELOPE_KIND_PACKET, data);
      if (!plain) {
        stats.packetsUnauthenticated++;
        return undefined;
      }
      const p = decodePacket(plain);
      if (!p) stats.packetsMalformed++;
      return p;
    },
    encodeFrame: (frame) => keyring.seal(ENVELOPE_KIND_STREAM, encodeFrame(frame)),
    decodeFrame(data) {
      const plain = keyring.open(ENVELOPE_KIND_STREAM, data);
      if (!plain) {
        stats.framesUnauthenticated++;
        return undefined;
      }
      const f = decodeFrame(plain);
      if (!f) stats.framesMalformed++;
      return f;
    },
  };
}

export function plaintextObjectCodec(): Codec<Packet, StreamFrame> {
  return {
    stats: newStats(),
    encodePacket: (from, messages) => ({ from, messages }),
    decodePacket: (p) => p,
    encodeFrame: (f) => f,
    decodeFrame: (f) => f,
  };
}

/** Wire size of an object-carried datagram had it been sealed (for bandwidth figures). */
export function sealedPacketSize(p: Packet): number {
  return ENVELOPE_OVERHEAD + packetSize(p.from, p.messages);
}

/** Wire size of an object-carried stream frame had it been sealed (costly: encodes it). */
export function sealedFrameSize(f: StreamFrame): number {
  return 4 + ENVELOPE_OVERHEAD + encodeFrame(f).length;
}
