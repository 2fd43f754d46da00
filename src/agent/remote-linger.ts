/**
 * Remote endpoints that left, kept in the overlay a moment longer.
 *
 * When another node's task ends, this node's load balancers drop it, but a connection they
 * sent it just before may still be in its handshake here (its SYN or a retransmission not
 * yet out). Were the endpoint's neighbour and forwarding entries removed at once, that SYN
 * would find no way to the task's address: the sandbox asks for its MAC in vain and the
 * client sees "host unreachable" after three seconds. Kept for LINGER_MS, the SYN reaches
 * the task's node, whose sandbox (kept as long, workloads.ts) refuses it at once, and the
 * client can try again. A current endpoint with the same address wins over a lingering one.
 */
import type { RemoteEndpoint } from '../overlay/model.ts';

export const REMOTE_LINGER_MS = 3_000;

export class RemoteLinger {
  private last = new Map<string, RemoteEndpoint[]>();
  private readonly gone = new Map<string, { endpoint: RemoteEndpoint; until: number }>();

  constructor(private readonly lingerMs = REMOTE_LINGER_MS) {}

  /**
   * `current`'s endpoints per network, plus those that left less than lingerMs ago, and
   * when the next of those expires (undefined: none lingers).
   */
  apply(
    current: ReadonlyMap<string, RemoteEndpoint[]>,
    now: number,
  ): { remotes: Map<string, RemoteEndpoint[]>; nextExpiry: number | undefined } {
    const key = (e: RemoteEndpoint): string => `${e.networkId}/${e.ip}`;
    const present = new Set<string>();
    for (const list of current.values()) for (const e of list) present.add(key(e));
    for (const list of this.last.values()) {
      for (const e of list)
        if (!present.has(key(e)) && !this.gone.has(key(e))) this.gone.set(key(e), { endpoint: e, until: now + this.lingerMs });
    }
    this.last = new Map(current);
    const remotes = new Map<string, RemoteEndpoint[]>([...current].map(([id, list]) => [id, [...list]]));
    let nextExpiry: number | undefined;
    for (const [k, g] of this.gone) {
      if (present.has(k) || g.until <= now || !current.has(g.endpoint.networkId)) {
        this.gone.delete(k);
        continue;
      }
      remotes.get(g.endpoint.networkId)!.push(g.endpoint);
      nextExpiry = nextExpiry === undefined ? g.until : Math.min(nextExpiry, g.until);
    }
    return { remotes, nextExpiry };
  }
}
