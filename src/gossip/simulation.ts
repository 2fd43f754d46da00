/**
 * A whole cluster of gossip nodes in one process, in virtual time: a FakeClock, a seeded
 * Rng, a MemoryNetwork and N nodes. Used by the unit-tier simulations and by
 * bench/gossip.ts; nothing in the agent uses it.
 *
 * Modes: 'sealed' runs the full path (protobuf encoding, AES-256-GCM envelope) over a byte
 * MemoryTransport; 'objects' passes decoded objects (same protocol and timing, no encoding
 * cost) so that thousands of nodes fit in a test. A cluster may start from an already formed
 * membership (one shared snapshot: every node alive and on the given networks) when what is
 * measured is not formation itself.
 *
 * Addresses come from 198.18.0.0/15 (RFC 2544, reserved for benchmarks), port 7946.
 */
import { FakeClock, type Clock, type Timer } from '../common/clock.ts';
import { createRng, type Rng } from '../common/rng.ts';
import { sealedFrameSize, sealedPacketSize } from './transport-codec.ts';
import { defaultLanConfig, type GossipConfig } from './config.ts';
import { createKeyring, generateGossipKey, type Keyring } from './keyring.ts';
import { createGossipNode, createSimulatedNode, type GossipNode } from './memberlist.ts';
import { membershipSnapshot, type MembershipSnapshot } from './member-table.ts';
import { MemoryNetwork } from './memory-transport.ts';
import type { Packet, StreamFrame } from './messages.ts';

export type SimulationMode = 'objects' | 'sealed';

export interface SimulationOptions {
  readonly nodes: number;
  readonly seed: number;
  readonly config?: GossipConfig;
  readonly mode?: SimulationMode;
  /** One-way latency and jitter of the simulated network, ms (default 1 and 1). */
  readonly latencyMs?: number;
  readonly jitterMs?: number;
  /** Datagram loss probability (default 0). */
  readonly loss?: number;
  /** Start from a formed membership; each network lists its nodes' indexes, or 'all'. */
  readonly formed?: { readonly networks: ReadonlyArray<{ readonly id: string; readonly members: readonly number[] | 'all' }> };
  /** Virtual start time, ms (wall clock = 2026-01-01 + this). */
  readonly startMs?: number;
  /** Count datagram and frame bytes in object mode too (costs an encode per frame). */
  readonly countFrameBytes?: boolean;
}

export interface SimNode {
  readonly index: number;
  readonly name: string;
  readonly addr: string;
  node: AnyNode;
  /** The node's keyring (sealed mode). */
  keyring: Keyring | undefined;
  clock: LaggingClock;
  running: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: a simulation holds nodes of any message and table types
export type AnyNode = GossipNode<any, any>;

/** A clock whose timers fire `lagMs` late: a node whose event loop is stalled. */
export class LaggingClock implements Clock {
  lagMs = 0;
  constructor(private readonly base: Clock) {}
  now(): number {
    return this.base.now();
  }
  wallNow(): number {
    return this.base.wallNow();
  }
  setTimer(ms: number, fn: () => void): Timer {
    return this.base.setTimer(ms + this.lagMs, fn);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimer(ms, resolve));
  }
}

export function simAddress(i: number): string {
  return `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}:7946`;
}

export class Simulation {
  readonly clock: FakeClock;
  readonly rng: Rng;
  readonly config: GossipConfig;
  readonly mode: SimulationMode;
  // biome-ignore lint/suspicious/noExplicitAny: as AnyNode
  readonly network: MemoryNetwork<any, any>;
  readonly nodes: SimNode[] = [];
  readonly key: Uint8Array;
  readonly snapshot: MembershipSnapshot | undefined;

  private constructor(o: SimulationOptions) {
    this.clock = new FakeClock(o.startMs ?? 0);
    this.rng = createRng(o.seed);
    this.config = o.config ?? defaultLanConfig();
    this.mode = o.mode ?? 'objects';
    this.key = generateGossipKey();
    const netOptions = {
      clock: this.clock,
      rng: this.rng.fork(),
      latencyMs: o.latencyMs ?? 1,
      jitterMs: o.jitterMs ?? 1,
      loss: o.loss ?? 0,
    };
    this.network =
      this.mode === 'sealed'
        ? new MemoryNetwork<Uint8Array, Uint8Array>(netOptions)
        : new MemoryNetwork<Packet, StreamFrame>({
            ...netOptions,
            sizeOfPacket: sealedPacketSize,
            sizeOfFrame: o.countFrameBytes ? sealedFrameSize : () => 0,
          });
    this.snapshot = o.formed
      ? membershipSnapshot(
          Array.from({ length: o.nodes }, (_, i) => ({ name: simName(i), addr: simAddress(i) })),
          Math.floor(this.clock.wallNow() / 1000),
          o.formed.networks,
        )
      : undefined;
  }

  /** Creates and starts the cluster's nodes (formed, or each alone until joinAll). */
  static async create(o: SimulationOptions): Promise<Simulation> {
    const sim = new Simulation(o);
    for (let i = 0; i < o.nodes; i++) {
      const lag = new LaggingClock(sim.clock);
      const keyring = sim.mode === 'sealed' ? sim.keyring() : undefined;
      const s: SimNode = {
        index: i,
        name: simName(i),
        addr: simAddress(i),
        node: sim.makeNode(i, lag, sim.snapshot, keyring),
        keyring,
        clock: lag,
        running: true,
      };
      sim.nodes.push(s);
      await s.node.start();
    }
    return sim;
  }

  /** A keyring with the cluster key (sealed mode). */
  keyring(): Keyring {
    return createKeyring([this.key]);
  }

  private makeNode(i: number, clock: Clock, snapshot: MembershipSnapshot | undefined, keyring?: Keyring): AnyNode {
    const base = { name: simName(i), clock, rng: this.rng.fork(), config: this.config, ...(snapshot ? { snapshot } : {}) };
    if (this.mode === 'sealed') {
      const net = this.network as MemoryNetwork<Uint8Array, Uint8Array>;
      return createGossipNode({ ...base, transport: net.createTransport(simAddress(i)), keyring: keyring ?? this.keyring() });
    }
    const net = this.network as MemoryNetwork<Packet, StreamFrame>;
    return createSimulatedNode({ ...base, transport: net.createTransport(simAddress(i)) });
  }

  /** Seed addresses: the first three nodes. */
  seeds(): string[] {
    return this.nodes.slice(0, 3).map((n) => n.addr);
  }

  /** Every node but the first joins through the seeds, one every `staggerMs` of virtual time. */
  joinAll(staggerMs = 5): void {
    for (let i = 1; i < this.nodes.length; i++) {
      const s = this.nodes[i]!;
      s.node.join(this.seeds()).catch(() => undefined);
      if (staggerMs > 0) this.clock.advance(staggerMs);
    }
  }

  /** Advances virtual time. */
  run(ms: number): void {
    this.clock.advance(ms);
  }

  /**
   * Advances in steps of `stepMs` until `done()` holds or `maxMs` passed. Returns the virtual
   * time it took (exact to the step), or undefined when it never held.
   */
  runUntil(done: () => boolean, maxMs: number, stepMs = 50): number | undefined {
    const start = this.clock.now();
    if (done()) return 0;
    while (this.clock.now() - start < maxMs) {
      this.clock.advance(stepMs);
      if (done()) return this.clock.now() - start;
    }
    return undefined;
  }

  running(): SimNode[] {
    return this.nodes.filter((n) => n.running);
  }

  /** Kills a node (no leave): its transport closes, datagrams to it vanish. */
  async kill(i: number): Promise<void> {
    const s = this.nodes[i]!;
    s.running = false;
    await s.node.destroy();
  }

  /** Starts a fresh node under the same name and address (state lost) and joins it. */
  async restart(i: number, keyring?: Keyring): Promise<void> {
    const s = this.nodes[i]!;
    if (s.running) await this.kill(i);
    s.clock = new LaggingClock(this.clock);
    s.keyring = this.mode === 'sealed' ? (keyring ?? this.keyring()) : undefined;
    s.node = this.makeNode(i, s.clock, undefined, s.keyring);
    await s.node.start();
    s.running = true;
    s.node.join(this.seeds().filter((a) => a !== s.addr)).catch(() => undefined);
  }

  /** Makes a node slow: its timers and everything sent to it are handled `lagMs` late. */
  slow(i: number, lagMs: number): void {
    const s = this.nodes[i]!;
    s.clock.lagMs = lagMs;
    this.network.setSlow(s.addr, lagMs);
  }

  /** Splits the network into groups of node indexes. */
  partition(groups: ReadonlyArray<readonly number[]>): void {
    this.network.partition(groups.map((g) => g.map((i) => this.nodes[i]!.addr)));
  }

  heal(): void {
    this.network.heal();
  }
}

export function simName(i: number): string {
  return `node-${String(i).padStart(5, '0')}`;
}
