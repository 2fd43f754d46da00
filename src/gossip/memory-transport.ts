/**
 * MemoryNetwork / MemoryTransport: an in-process network for tests and simulations, driven
 * by a Clock (a FakeClock for virtual time) and a seeded Rng, so a run is reproducible.
 *
 * It models what gossip must survive: datagram loss (a probability per datagram), latency
 * with jitter, partitions (groups that cannot reach each other: datagrams vanish, streams
 * time out), dead nodes (closed transports: datagrams vanish, streams are refused after one
 * latency), and slow nodes (every datagram and stream to them is handled late, as when a
 * node's event loop stalls). Streams are reliable, as TCP is. It counts datagrams and bytes
 * per node for bandwidth figures.
 *
 * By default it carries bytes (the full encode + encrypt path). A network created to carry
 * objects (the runtime's plaintext simulation mode) passes Packet and StreamFrame objects
 * by reference: same protocol and timing, no encoding cost. Byte counts then come from the
 * `sizeOf` callback.
 */
import type { Clock } from '../common/clock.ts';
import type { Rng } from '../common/rng.ts';
import { gossipError } from './errors.ts';
import type { RequestCallback, Transport, TransportHandlers } from './transport.ts';

export interface MemoryNetworkOptions<D, F> {
  readonly clock: Clock;
  readonly rng: Rng;
  /** One-way delay, ms. */
  readonly latencyMs?: number;
  /** Extra random delay in [0, jitterMs), ms. */
  readonly jitterMs?: number;
  /** Probability that a datagram is lost, 0..1. */
  readonly loss?: number;
  /** Bytes a datagram or frame takes on the wire (for accounting); default: byteLength. */
  readonly sizeOfPacket?: (data: D) => number;
  readonly sizeOfFrame?: (frame: F) => number;
}

export interface MemoryNetworkStats {
  packetsSent: number;
  packetsDelivered: number;
  packetsLost: number;
  bytesSent: number;
  streams: number;
  streamsFailed: number;
}

function byteLength(x: unknown): number {
  return x instanceof Uint8Array ? x.byteLength : 0;
}

export class MemoryNetwork<D = Uint8Array, F = Uint8Array> {
  readonly clock: Clock;
  private readonly rng: Rng;
  private latencyMs: number;
  private jitterMs: number;
  private loss: number;
  private readonly sizeOfPacket: (data: D) => number;
  private readonly sizeOfFrame: (frame: F) => number;
  private readonly endpoints = new Map<string, MemoryTransport<D, F>>();
  private groups = new Map<string, number>();
  private readonly slow = new Map<string, number>();
  private readonly bytesByNode = new Map<string, number>();
  readonly stats: MemoryNetworkStats = { packetsSent: 0, packetsDelivered: 0, packetsLost: 0, bytesSent: 0, streams: 0, streamsFailed: 0 };

  constructor(options: MemoryNetworkOptions<D, F>) {
    this.clock = options.clock;
    this.rng = options.rng;
    this.latencyMs = options.latencyMs ?? 1;
    this.jitterMs = options.jitterMs ?? 1;
    this.loss = options.loss ?? 0;
    this.sizeOfPacket = options.sizeOfPacket ?? byteLength;
    this.sizeOfFrame = options.sizeOfFrame ?? byteLength;
  }

  /** A transport reachable at `address`. */
  createTransport(address: string): MemoryTransport<D, F> {
    return new MemoryTransport(this, address);
  }

  setLoss(loss: number): void {
    this.loss = loss;
  }

  setLatency(latencyMs: number, jitterMs = this.jitterMs): void {
    this.latencyMs = latencyMs;
    this.jitterMs = jitterMs;
  }

  /** Splits the network: addresses in different groups cannot reach each other. */
  partition(groups: ReadonlyArray<readonly string[]>): void {
    this.groups = new Map();
    groups.forEach((g, i) => {
      for (const a of g) this.groups.set(a, i);
    });
  }

  heal(): void {
    this.groups = new Map();
  }

  /** Everything sent to `address` is handled `delayMs` late (0 clears). */
  setSlow(address: string, delayMs: number): void {
    if (delayMs > 0) this.slow.set(address, delayMs);
    else this.slow.delete(address);
  }

  /** Bytes sent by `address` so far. */
  bytesSentBy(address: string): number {
    return this.bytesByNode.get(address) ?? 0;
  }

  resetCounters(): void {
    Object.assign(this.stats, { packetsSent: 0, packetsDelivered: 0, packetsLost: 0, bytesSent: 0, streams: 0, streamsFailed: 0 });
    this.bytesByNode.clear();
  }

  /** @internal */
  register(t: MemoryTransport<D, F>): void {
    this.endpoints.set(t.address, t);
  }

  /** @internal */
  unregister(t: MemoryTransport<D, F>): void {
    if (this.endpoints.get(t.address) === t) this.endpoints.delete(t.address);
  }

  private blocked(a: string, b: string): boolean {
    const ga = this.groups.get(a);
    const gb = this.groups.get(b);
    return ga !== undefined && gb !== undefined && ga !== gb;
  }

  private delay(to: string): number {
    const jitter = this.jitterMs > 0 ? this.rng.next() * this.jitterMs : 0;
    return this.latencyMs + jitter + (this.slow.get(to) ?? 0);
  }

  private account(from: string, bytes: number): void {
    this.stats.bytesSent += bytes;
    this.bytesByNode.set(from, (this.bytesByNode.get(from) ?? 0) + bytes);
  }

  /** @internal */
  sendPacket(from: string, to: string, data: D): void {
    this.stats.packetsSent++;
    this.account(from, this.sizeOfPacket(data));
    if ((this.loss > 0 && this.rng.next() < this.loss) || this.blocked(from, to)) {
      this.stats.packetsLost++;
      return;
    }
    this.clock.setTimer(this.delay(to), () => {
      const target = this.endpoints.get(to);
      if (!target || this.blocked(from, to)) {
        this.stats.packetsLost++;
        return;
      }
      this.stats.packetsDelivered++;
      target.deliverPacket(from, data);
    });
  }

  /** @internal */
  request(from: string, to: string, frame: F, timeoutMs: number, done: RequestCallback<F>): void {
    this.stats.streams++;
    this.account(from, this.sizeOfFrame(frame));
    let finished = false;
    const finish = (err: Error | undefined, reply: F | undefined): void => {
      if (finished) return;
      finished = true;
      timer.cancel();
      if (err) this.stats.streamsFailed++;
      done(err, reply);
    };
    const timer = this.clock.setTimer(timeoutMs, () =>
      finish(gossipError('SHOAL_ERR_GOSSIP_STREAM', `stream to ${to} timed out`, { to }), undefined),
    );
    if (this.blocked(from, to)) return; // like a SYN into a partition: only the timeout answers
    this.clock.setTimer(this.delay(to), () => {
      const target = this.endpoints.get(to);
      if (!target) {
        finish(gossipError('SHOAL_ERR_GOSSIP_STREAM', `connection to ${to} refused`, { to }), undefined);
        return;
      }
      if (this.blocked(from, to)) return;
      target.deliverRequest(from, frame, (reply) => {
        if (reply === undefined) {
          this.clock.setTimer(this.delay(from), () =>
            finish(gossipError('SHOAL_ERR_GOSSIP_STREAM', `stream to ${to} closed without a reply`, { to }), undefined),
          );
          return;
        }
        this.account(to, this.sizeOfFrame(reply));
        this.clock.setTimer(this.delay(from), () => {
          if (this.blocked(from, to)) return;
          finish(undefined, reply);
        });
      });
    });
  }
}

export class MemoryTransport<D = Uint8Array, F = Uint8Array> implements Transport<D, F> {
  private handlers: TransportHandlers<D, F> | undefined;
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork<D, F>,
    readonly address: string,
  ) {}

  start(handlers: TransportHandlers<D, F>): Promise<void> {
    this.handlers = handlers;
    this.closed = false;
    this.network.register(this);
    return Promise.resolve();
  }

  sendPacket(to: string, data: D): void {
    if (this.closed || !this.handlers) return;
    this.network.sendPacket(this.address, to, data);
  }

  request(to: string, frame: F, timeoutMs: number, done: RequestCallback<F>): void {
    if (this.closed || !this.handlers) {
      done(gossipError('SHOAL_ERR_GOSSIP_STREAM', 'transport closed'), undefined);
      return;
    }
    this.network.request(this.address, to, frame, timeoutMs, done);
  }

  close(): Promise<void> {
    this.closed = true;
    this.network.unregister(this);
    return Promise.resolve();
  }

  /** @internal */
  deliverPacket(from: string, data: D): void {
    if (!this.closed) this.handlers?.packet(from, data);
  }

  /** @internal */
  deliverRequest(from: string, frame: F, respond: (reply: F | undefined) => void): void {
    if (this.closed || !this.handlers) {
      respond(undefined);
      return;
    }
    this.handlers.request(from, frame, respond);
  }
}
