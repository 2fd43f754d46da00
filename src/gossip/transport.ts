/**
 * What the gossip runtime needs from a network: best-effort datagrams and one-shot
 * request/reply streams. Two implementations: NetTransport (UDP + TCP sockets, net-transport.ts)
 * and MemoryTransport (in-process, with loss, latency and partitions, memory-transport.ts).
 *
 * The interface is callback-based rather than promise-based on purpose: a simulation of
 * 1,000 nodes on a FakeClock must run every delivery synchronously inside clock.advance(),
 * with no microtask turn in between.
 *
 * D is what a datagram carries and F what a stream frame carries: sealed bytes for real
 * networks; for large simulations a MemoryTransport may carry the decoded objects instead
 * (Packet, StreamFrame) to skip encoding and encryption.
 */

export interface TransportHandlers<D, F> {
  /** A datagram arrived from `from` ("host:port"). */
  packet(from: string, data: D): void;
  /**
   * A stream request arrived. Call `respond` once with the reply frame, or with undefined
   * to close the stream without one.
   */
  request(from: string, frame: F, respond: (reply: F | undefined) => void): void;
}

export type RequestCallback<F> = (err: Error | undefined, reply: F | undefined) => void;

export interface Transport<D = Uint8Array, F = Uint8Array> {
  /** The address this transport receives at ("host:port"); valid after start(). */
  readonly address: string;
  /** Binds (or adopts) the sockets and starts delivering to `handlers`. */
  start(handlers: TransportHandlers<D, F>): Promise<void>;
  /** Sends a datagram, best effort: errors are counted, never thrown. */
  sendPacket(to: string, data: D): void;
  /** One stream exchange: send `frame`, get one reply frame, within `timeoutMs`. */
  request(to: string, frame: F, timeoutMs: number, done: RequestCallback<F>): void;
  /** Stops receiving and releases the sockets. Idempotent. */
  close(): Promise<void>;
}

/** Splits "host:port" (IPv6 hosts in brackets). */
export function splitAddress(addr: string): { host: string; port: number } | undefined {
  const i = addr.lastIndexOf(':');
  if (i <= 0) return undefined;
  let host = addr.slice(0, i);
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port };
}

/** Joins host and port, bracketing IPv6 hosts. */
export function joinAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
