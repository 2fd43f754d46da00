/**
 * The gossip runtime: one GossipNode per agent. It owns the I/O and the clock; the protocol
 * lives in the two pure state machines it drives (swim.ts for membership, table-state.ts for
 * the per-network tables).
 *
 * Flow. Every input (a datagram, a stream request, a stream reply, a timer, an API call)
 * becomes one step of a state machine; the effects of that step are carried out: messages
 * for the same address are collected in an outbox and, when the input is fully handled,
 * packed into as few datagrams as fit the packet size (compound messages) and sealed;
 * messages too large for a datagram go over a stream; push-pulls and table syncs become
 * stream requests whose replies are fed back as further steps; member events reach the
 * table machine at once and the listeners after the input is handled; table changes reach
 * watchers the same way. Then one clock timer is armed for the earliest deadline of either
 * machine. Nothing here blocks, and in virtual time (FakeClock + MemoryTransport) a whole
 * cluster runs synchronously inside clock.advance().
 *
 * Input from the network is never trusted: it is authenticated and decoded by the codec
 * (failures are counted in stats, never thrown), and exceptions from listeners are caught
 * and logged so that the receive loop cannot be broken from outside.
 */
import type { Clock, Timer } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import { createRng, type Rng } from '../common/rng.ts';
import { plaintextObjectCodec, sealedCodec, type Codec, type CodecStats } from './transport-codec.ts';
import { defaultLanConfig, type GossipConfig } from './config.ts';
import { gossipError } from './errors.ts';
import type { Keyring, KeyringStats } from './keyring.ts';
import type { MembershipSnapshot } from './member-table.ts';
import {
  createSwimState,
  exportMembers,
  memberInfo,
  nextWake,
  step,
  type MemberEvent,
  type MemberInfo,
  type SwimEffect,
  type SwimEvent,
  type SwimState,
  type SwimStats,
} from './swim.ts';
import {
  createTablesState,
  exportAttachments,
  isJoined,
  joinedNetworks,
  nextTablesWake,
  stepTables,
  type TableChange,
  type TablesInput,
  type TablesOutput,
  type TablesState,
  type TablesStats,
} from './table-state.ts';
import { GossipTables, checkName } from './tables.ts';
import type { Transport } from './transport.ts';
import {
  MAX_NAME_LENGTH,
  type FrameBody,
  type GossipMessage,
  type NetworkEventMsg,
  type Packet,
  type StreamFrame,
  type SwimMsg,
  type TableEventMsg,
  type TableFetchBody,
  type TableSyncBody,
} from './messages.ts';
import { packMessages } from './pack-messages.ts';

export interface GossipNodeBaseOptions {
  /** This node's name: unique in the cluster and stable across restarts (the node ID). */
  readonly name: string;
  /** A validated config (validateGossipConfig); default the LAN profile. */
  readonly config?: GossipConfig;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Randomness for target choice and jitter; seed it to replay a run. */
  readonly rng?: Rng;
  /** Address announced to others; default the transport's address. */
  readonly advertiseAddress?: string;
  /** Start from an already formed membership (simulations and benchmarks). */
  readonly snapshot?: MembershipSnapshot;
}

export interface GossipNodeOptions extends GossipNodeBaseOptions {
  /** A byte transport: NetTransport, or a MemoryTransport carrying bytes. */
  readonly transport: Transport;
  /** Seals every datagram and frame; opens those under any installed key. */
  readonly keyring: Keyring;
}

export interface SimulatedNodeOptions extends GossipNodeBaseOptions {
  /** A MemoryTransport carrying objects: no encoding, no encryption (simulation only). */
  readonly transport: Transport<Packet, StreamFrame>;
}

export type NodeStatus = 'new' | 'running' | 'left' | 'closed';

export interface GossipStats {
  readonly datagramsReceived: number;
  readonly datagramsSent: number;
  readonly framesServed: number;
  readonly streamsRequested: number;
  readonly streamsFailed: number;
  /** Stream exchanges not started because maxConcurrentStreams were in flight. */
  readonly streamsSkipped: number;
  /** Exceptions thrown by member listeners or table watchers (caught and logged). */
  readonly listenerErrors: number;
  /** Inputs whose handling failed inside the node (dropped, logged); 0 unless there is a bug. */
  readonly internalErrors: number;
  readonly codec: Readonly<CodecStats>;
  readonly keyring: Readonly<KeyringStats> | undefined;
  /** Input dropped before the protocol saw it, by reason (datagrams and stream frames). */
  readonly drops: GossipDrops;
  readonly swim: Readonly<SwimStats>;
  readonly tables: Readonly<TablesStats>;
}

/**
 * Why received datagrams and stream frames were dropped: what an operator watches for a
 * misconfigured key (unknownKey after a rotation), an attack (notSealed, badAuth, replayed)
 * or clock skew between nodes (stale).
 */
export interface GossipDrops {
  /** Not an envelope of this version: plaintext, truncated, or another wire version. */
  readonly notSealed: number;
  /** A datagram's envelope presented as a stream frame, or the reverse. */
  readonly wrongKind: number;
  /** Sealed under a key this node does not hold (a removed key, another cluster's). */
  readonly unknownKey: number;
  /** Failed authentication: tampered, or a forged key id. */
  readonly badAuth: number;
  /** Authenticated, but sent outside the replay window's age or before this node started. */
  readonly stale: number;
  /** Authenticated, but seen already. */
  readonly replayed: number;
  /** Authenticated, but not a message this version decodes. */
  readonly malformed: number;
  /** The sum of the above. */
  readonly total: number;
}

function gossipDrops(codec: Readonly<CodecStats>, keyring: Readonly<KeyringStats> | undefined): GossipDrops {
  const k = keyring;
  const d = {
    notSealed: (k?.rejectedShort ?? 0) + (k?.rejectedVersion ?? 0),
    wrongKind: k?.rejectedKind ?? 0,
    unknownKey: k?.rejectedUnknownKey ?? 0,
    badAuth: k?.rejectedAuth ?? 0,
    stale: k?.rejectedStale ?? 0,
    replayed: k?.rejectedReplay ?? 0,
    malformed: codec.packetsMalformed + codec.framesMalformed,
  };
  return { ...d, total: Object.values(d).reduce((a, b) => a + b, 0) };
}

/** Creates a node that speaks the sealed wire format over `transport`. */
export function createGossipNode(options: GossipNodeOptions): GossipNode<Uint8Array, Uint8Array> {
  return new GossipNode(options, options.transport, sealedCodec(options.keyring), options.keyring);
}

/** Creates a node for large simulations: objects over a MemoryTransport, no crypto. */
export function createSimulatedNode(options: SimulatedNodeOptions): GossipNode<Packet, StreamFrame> {
  return new GossipNode(options, options.transport, plaintextObjectCodec(), undefined);
}

export class GossipNode<D = Uint8Array, F = Uint8Array> {
  readonly name: string;
  readonly config: GossipConfig;
  /** The replicated tables of the networks this node joined. */
  readonly tables: GossipTables;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly rng: Rng;
  private readonly transport: Transport<D, F>;
  private readonly codec: Codec<D, F>;
  private readonly keyring: Keyring | undefined;
  private readonly advertise: string | undefined;
  private readonly snapshot: MembershipSnapshot | undefined;
  private swim: SwimState | undefined;
  private tstate: TablesState | undefined;
  private state: NodeStatus = 'new';
  private addr = '';
  private timer: Timer | undefined;
  private armedAt = Infinity;
  private inTimer = false;
  private depth = 0;
  private readonly outbox = new Map<string, GossipMessage[]>();
  private readonly memberQueue: MemberEvent[] = [];
  private readonly changeQueue: TableChange[] = [];
  private readonly memberListeners = new Set<(event: MemberEvent) => void>();
  private leaveWaiters: Array<() => void> = [];
  private joinTracker: JoinTracker | undefined;
  private seeds: string[] = [];
  private rejoinTimer: Timer | undefined;
  private streamsInFlight = 0;
  private readonly counters = {
    datagramsReceived: 0,
    datagramsSent: 0,
    framesServed: 0,
    streamsRequested: 0,
    streamsFailed: 0,
    streamsSkipped: 0,
    listenerErrors: 0,
    internalErrors: 0,
  };

  constructor(options: GossipNodeBaseOptions, transport: Transport<D, F>, codec: Codec<D, F>, keyring: Keyring | undefined) {
    checkName('node name', options.name, MAX_NAME_LENGTH);
    this.name = options.name;
    this.config = options.config ?? defaultLanConfig();
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? silentLogger).child({ component: 'gossip', node: options.name });
    this.rng = options.rng ?? createRng();
    this.transport = transport;
    this.codec = codec;
    this.keyring = keyring;
    this.advertise = options.advertiseAddress;
    this.snapshot = options.snapshot;
    this.tables = new GossipTables({
      name: this.name,
      config: this.config,
      state: () => this.requireTables(),
      input: (input) => this.run(() => this.applyTables(stepTables(this.requireTables(), input, this.clock.now()))),
      requireRunning: () => this.requireRunning(),
    });
  }

  // ----- lifecycle -----

  get status(): NodeStatus {
    return this.state;
  }

  /** The address others reach this node at; valid after start(). */
  get address(): string {
    return this.addr;
  }

  /** Opens the transport and starts probing and gossiping. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw gossipError('SHOAL_ERR_GOSSIP_NOT_RUNNING', `node ${this.name} was already started`);
    await this.transport.start({
      packet: (from, data) => this.onPacket(from, data),
      request: (from, frame, respond) => this.onRequest(from, frame, respond),
    });
    this.addr = this.advertise ?? this.transport.address;
    const now = this.clock.now();
    const wall = this.clock.wallNow();
    this.swim = createSwimState({
      name: this.name,
      addr: this.addr,
      config: this.config,
      rng: this.rng.fork(),
      now,
      // Seconds of wall time: a restarted node outbids every incarnation of its previous life.
      incarnation: Math.floor(wall / 1000),
      ...(this.snapshot ? { snapshot: this.snapshot } : {}),
    });
    this.tstate = createTablesState({
      name: this.name,
      config: this.config,
      rng: this.rng.fork(),
      now,
      // Milliseconds of wall time: a restarted node's writes supersede its previous life's.
      ltime: Math.floor(wall),
      members: this.swim.members,
      ...(this.snapshot ? { snapshot: this.snapshot } : {}),
    });
    this.state = 'running';
    this.logger.debug({ addr: this.addr }, 'gossip node started');
    this.arm();
    this.armRejoin();
  }

  /**
   * Joins the cluster through seed addresses (push-pull with each). Resolves with the number
   * of seeds that answered; rejects with SHOAL_ERR_GOSSIP_JOIN_FAILED when none did. After a
   * leave(), joining again makes the node alive with a higher incarnation.
   */
  join(seeds: readonly string[]): Promise<number> {
    if (this.state !== 'running' && this.state !== 'left') {
      return Promise.reject(gossipError('SHOAL_ERR_GOSSIP_NOT_RUNNING', `node ${this.name} is ${this.state}`));
    }
    this.state = 'running';
    const targets = seeds.filter((s) => s !== this.addr);
    this.seeds = [...new Set([...this.seeds, ...targets])];
    if (targets.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      const tracker: JoinTracker = { pending: targets.length, ok: 0, resolve, reject, errors: [] };
      this.joinTracker = tracker;
      try {
        this.run(() => this.swimStep({ type: 'join', seeds: targets }));
      } finally {
        this.joinTracker = undefined;
      }
    });
  }

  /** Leaves gracefully: announces it and waits (up to leaveTimeoutMs) for it to spread. */
  leave(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        timer.cancel();
        if (this.state === 'running') this.state = 'left';
        resolve();
      };
      const timer = this.clock.setTimer(this.config.leaveTimeoutMs, finish);
      this.leaveWaiters.push(finish);
      this.run(() => this.swimStep({ type: 'leave' }));
    });
  }

  /** Leaves (if still a member) and closes the transport. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'running') await this.leave();
    await this.destroy();
  }

  /** Stops at once, without announcing a leave (others will detect a failure). Idempotent. */
  async destroy(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.timer?.cancel();
    this.timer = undefined;
    this.rejoinTimer?.cancel();
    this.rejoinTimer = undefined;
    for (const w of this.leaveWaiters.splice(0)) w();
    await this.transport.close();
  }

  // ----- membership -----

  /** Every known member with an address (self included), in any state. */
  members(): MemberInfo[] {
    const out: MemberInfo[] = [];
    this.swim?.members.forEach((r) => {
      if (r.addr !== '') out.push(memberInfo(r));
    });
    return out;
  }

  member(name: string): MemberInfo | undefined {
    const r = this.swim?.members.peek(name);
    return r && r.addr !== '' ? memberInfo(r) : undefined;
  }

  /** Number of alive or suspect members, self included. */
  liveCount(): number {
    return this.swim?.members.liveCount ?? 0;
  }

  /** Listens to member events; returns the function that stops listening. */
  onMemberEvent(listener: (event: MemberEvent) => void): () => void {
    this.memberListeners.add(listener);
    return () => this.memberListeners.delete(listener);
  }

  // ----- networks (tables are under .tables) -----

  /** Joins a network: this node starts receiving and serving its tables. Idempotent. */
  joinNetwork(network: string): void {
    checkName('network', network, MAX_NAME_LENGTH);
    this.requireRunning();
    this.tables.input({ type: 'join-network', network });
  }

  /** Leaves a network: its tables are dropped here (watchers see deletes). Idempotent. */
  leaveNetwork(network: string): void {
    checkName('network', network, MAX_NAME_LENGTH);
    this.requireRunning();
    this.tables.input({ type: 'leave-network', network });
  }

  networks(): string[] {
    return this.tstate ? joinedNetworks(this.tstate) : [];
  }

  inNetwork(network: string): boolean {
    return this.tstate ? isJoined(this.tstate, network) : false;
  }

  // ----- observation -----

  stats(): GossipStats {
    return {
      ...this.counters,
      codec: this.codec.stats,
      keyring: this.keyring?.stats,
      drops: gossipDrops(this.codec.stats, this.keyring?.stats),
      swim: this.requireSwim().stats,
      tables: this.requireTables().stats,
    };
  }

  /** Lifeguard local health score (0 = healthy). */
  healthScore(): number {
    return this.swim?.awareness ?? 0;
  }

  // ---------------------------------------------------------------------------------------
  // Internals

  private requireSwim(): SwimState {
    if (!this.swim) throw gossipError('SHOAL_ERR_GOSSIP_NOT_RUNNING', `node ${this.name} is not started`);
    return this.swim;
  }

  private requireTables(): TablesState {
    if (!this.tstate) throw gossipError('SHOAL_ERR_GOSSIP_NOT_RUNNING', `node ${this.name} is not started`);
    return this.tstate;
  }

  private requireRunning(): void {
    if (this.state === 'new' || this.state === 'closed')
      throw gossipError('SHOAL_ERR_GOSSIP_NOT_RUNNING', `node ${this.name} is ${this.state}`);
  }

  /** Runs `fn` as one input: effects are flushed, timers re-armed, events delivered after. */
  private run(fn: () => void): void {
    this.depth++;
    try {
      fn();
    } finally {
      this.depth--;
      if (this.depth === 0) this.settle();
    }
  }

  private settle(): void {
    if (this.state === 'closed') {
      this.outbox.clear();
      return;
    }
    this.flush();
    this.arm();
    this.deliverEvents();
  }

  private swimStep(ev: SwimEvent): void {
    this.applySwim(step(this.requireSwim(), ev, this.clock.now()));
  }

  private applySwim(effects: SwimEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          this.queueSend(e.to, e.messages);
          break;
        case 'push-pull':
          this.pushPull(e.to, e.join, this.joinTracker);
          break;
        case 'member':
          this.memberQueue.push(e.event);
          this.applyTables(stepTables(this.requireTables(), { type: 'member', event: e.event }, this.clock.now()));
          break;
        case 'left':
          for (const w of this.leaveWaiters.splice(0)) w();
          break;
      }
    }
  }

  private applyTables(outputs: TablesOutput[]): void {
    for (const o of outputs) {
      switch (o.type) {
        case 'send': {
          const rec = this.swim?.members.peek(o.to);
          if (rec && rec.addr !== '') this.queueSend(rec.addr, o.messages);
          break;
        }
        case 'broadcast':
          this.swimStep({ type: 'broadcast', key: o.key, message: o.message });
          break;
        case 'request':
          this.tableRequest(o.to, o.body);
          break;
        case 'watch':
          this.changeQueue.push(o.change);
          break;
        case 'reply':
          break; // taken by the request handler that produced it
      }
    }
  }

  private queueSend(to: string, messages: readonly GossipMessage[]): void {
    if (to === '' || to === this.addr) return;
    const list = this.outbox.get(to);
    if (list) list.push(...messages);
    else this.outbox.set(to, [...messages]);
  }

  private flush(): void {
    if (this.outbox.size === 0) return;
    for (const [to, messages] of this.outbox) {
      const { datagrams, large } = packMessages(this.name, messages, this.config.packetBytes);
      for (const group of datagrams) {
        this.counters.datagramsSent++;
        this.transport.sendPacket(to, this.codec.encodePacket(this.name, group));
      }
      if (large.length > 0) this.deliverLarge(to, large);
    }
    this.outbox.clear();
  }

  private arm(): void {
    if (this.state === 'closed' || !this.swim || !this.tstate) return;
    const now = this.clock.now();
    let wake = Math.min(nextWake(this.swim), nextTablesWake(this.tstate));
    if (this.inTimer && wake <= now) wake = now + 1; // never spin on a deadline that did not move
    if (wake >= this.armedAt) return;
    this.timer?.cancel();
    this.armedAt = wake;
    this.timer = this.clock.setTimer(Math.max(0, wake - now), () => {
      this.timer = undefined;
      this.armedAt = Infinity;
      if (this.state === 'closed') return;
      this.inTimer = true;
      try {
        this.guard('timer', () =>
          this.run(() => {
            const t = this.clock.now();
            this.applySwim(step(this.requireSwim(), { type: 'tick' }, t));
            this.applyTables(stepTables(this.requireTables(), { type: 'tick' }, t));
          }),
        );
      } finally {
        this.inTimer = false;
      }
      if (this.armedAt === Infinity) this.arm(); // re-arm even if the tick failed
    });
  }

  private armRejoin(): void {
    const interval = this.config.rejoinIntervalMs;
    if (interval <= 0 || this.state === 'closed') return;
    this.rejoinTimer = this.clock.setTimer(interval * (0.75 + 0.5 * this.rng.next()), () => {
      this.rejoinTimer = undefined;
      if (this.state === 'closed') return;
      if (this.state === 'running' && this.seeds.length > 0 && !this.anySeedLive()) {
        this.logger.info({ seeds: this.seeds }, 'no seed is a live member; joining again');
        this.join(this.seeds).catch(() => undefined);
      }
      this.armRejoin();
    });
  }

  private anySeedLive(): boolean {
    const live = new Set<string>();
    this.swim?.members.live.forEach((n) => {
      const r = this.swim!.members.peek(n);
      if (r) live.add(r.addr);
    });
    return this.seeds.some((s) => live.has(s));
  }

  private deliverEvents(): void {
    while (this.memberQueue.length > 0 || this.changeQueue.length > 0) {
      for (const ev of this.memberQueue.splice(0)) {
        if (ev.kind !== 'suspected' && ev.kind !== 'recovered')
          this.logger.debug({ member: ev.member.name, addr: ev.member.addr, incarnation: ev.member.incarnation }, `member ${ev.kind}`);
        for (const l of this.memberListeners) this.safely(() => l(ev));
      }
      for (const c of this.changeQueue.splice(0)) {
        this.tables.deliver(c, (fn) => this.safely(fn));
      }
    }
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.counters.listenerErrors++;
      this.logger.warn({ err }, 'gossip listener threw');
    }
  }

  // ----- receiving -----

  private onPacket(from: string, data: D): void {
    if (this.state !== 'running' && this.state !== 'left') return;
    const p = this.codec.decodePacket(data);
    if (!p) return;
    this.counters.datagramsReceived++;
    this.guard('datagram', () => this.run(() => this.dispatchMessages(from, p.from, p.messages)));
  }

  /**
   * Last line of defence of the receive loop and the timer: input that passed decoding
   * should never make a state machine throw, but if it does, the datagram is dropped, the
   * fault is counted and logged, and the node carries on.
   */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.counters.internalErrors++;
      this.logger.error({ err, what }, 'gossip input handling failed; input dropped');
    }
  }

  private dispatchMessages(from: string, sender: string, messages: readonly GossipMessage[]): void {
    let swimMsgs: SwimMsg[] | undefined;
    let tableMsgs: Array<TableEventMsg | NetworkEventMsg> | undefined;
    for (const m of messages) {
      if (m.kind === 'table' || m.kind === 'network') (tableMsgs ??= []).push(m);
      else (swimMsgs ??= []).push(m);
    }
    if (swimMsgs) this.swimStep({ type: 'packet', from, sender, messages: swimMsgs });
    if (tableMsgs) this.applyTables(stepTables(this.requireTables(), { type: 'messages', messages: tableMsgs }, this.clock.now()));
  }

  private onRequest(from: string, data: F, respond: (reply: F | undefined) => void): void {
    if (this.state !== 'running' && this.state !== 'left') {
      respond(undefined);
      return;
    }
    const frame = this.codec.decodeFrame(data);
    if (!frame) {
      respond(undefined);
      return;
    }
    this.counters.framesServed++;
    let reply: FrameBody = { kind: 'refused', reason: 'unsupported request' };
    this.guard('stream request', () =>
      this.run(() => {
        const body = frame.body;
        const now = this.clock.now();
        switch (body.kind) {
          case 'push-pull': {
            reply = {
              kind: 'push-pull',
              join: false,
              members: exportMembers(this.requireSwim()),
              attachments: exportAttachments(this.requireTables()),
            };
            const peerAddr = body.members.find((m) => m.node === frame.from)?.addr ?? '';
            this.swimStep({ type: 'push-pull', from: peerAddr, sender: frame.from, members: body.members, weJoined: false });
            this.applyTables(stepTables(this.requireTables(), { type: 'attachments', attachments: body.attachments }, now));
            break;
          }
          case 'table-sync':
            reply = this.serveTables({ type: 'sync-request', body }, now) ?? reply;
            break;
          case 'table-fetch':
            reply = this.serveTables({ type: 'fetch-request', body }, now) ?? reply;
            break;
          case 'deliver': {
            const addr = this.swim?.members.peek(frame.from)?.addr ?? from;
            this.dispatchMessages(addr, frame.from, body.messages);
            reply = { kind: 'done' };
            break;
          }
          default:
            break;
        }
      }),
    );
    respond(this.codec.encodeFrame({ from: this.name, body: reply }));
  }

  private serveTables(input: TablesInput, now: number): FrameBody | undefined {
    const outputs = stepTables(this.requireTables(), input, now);
    let reply: FrameBody | undefined;
    for (const o of outputs) if (o.type === 'reply') reply = o.body;
    this.applyTables(outputs);
    return reply;
  }

  // ----- streams we start -----

  private startStream(to: string, body: FrameBody, done: (reply: StreamFrame | undefined, err: Error | undefined) => void): void {
    if (this.state === 'closed') return;
    if (this.streamsInFlight >= this.config.maxConcurrentStreams) {
      this.counters.streamsSkipped++;
      done(undefined, gossipError('SHOAL_ERR_GOSSIP_STREAM', 'too many streams in flight'));
      return;
    }
    this.streamsInFlight++;
    this.counters.streamsRequested++;
    const frame = this.codec.encodeFrame({ from: this.name, body });
    this.transport.request(to, frame, this.config.streamTimeoutMs, (err, data) => {
      this.streamsInFlight--;
      if (this.state === 'closed') return;
      const reply = !err && data !== undefined ? this.codec.decodeFrame(data) : undefined;
      if (!reply) {
        this.counters.streamsFailed++;
        done(undefined, err ?? gossipError('SHOAL_ERR_GOSSIP_STREAM', `no valid reply from ${to}`, { to }));
        return;
      }
      if (reply.body.kind === 'refused') {
        this.counters.streamsFailed++;
        done(undefined, gossipError('SHOAL_ERR_GOSSIP_STREAM', `${to} refused: ${reply.body.reason}`, { to }));
        return;
      }
      done(reply, undefined);
    });
  }

  private pushPull(to: string, join: boolean, tracker: JoinTracker | undefined): void {
    const body: FrameBody = {
      kind: 'push-pull',
      join,
      members: exportMembers(this.requireSwim()),
      attachments: exportAttachments(this.requireTables()),
    };
    this.startStream(to, body, (reply, err) => {
      const ok = reply?.body.kind === 'push-pull';
      if (reply && reply.body.kind === 'push-pull') {
        const b = reply.body;
        this.guard('push-pull reply', () =>
          this.run(() => {
            this.swimStep({ type: 'push-pull', from: to, sender: reply.from, members: b.members, weJoined: join });
            this.applyTables(stepTables(this.requireTables(), { type: 'attachments', attachments: b.attachments }, this.clock.now()));
          }),
        );
      }
      if (tracker) {
        if (ok) tracker.ok++;
        else if (err) tracker.errors.push(err.message);
        if (--tracker.pending === 0) {
          if (tracker.ok > 0) tracker.resolve(tracker.ok);
          else
            tracker.reject(
              gossipError('SHOAL_ERR_GOSSIP_JOIN_FAILED', `no seed answered: ${tracker.errors.join('; ')}`, { errors: tracker.errors }),
            );
        }
      }
    });
  }

  private tableRequest(toNode: string, body: TableSyncBody | TableFetchBody): void {
    const rec = this.swim?.members.peek(toNode);
    const network = body.network;
    const fail = (): void =>
      this.run(() => {
        const input: TablesInput =
          body.kind === 'table-sync'
            ? { type: 'sync-reply', peer: toNode, network, body: undefined }
            : { type: 'fetch-reply', peer: toNode, network, body: undefined };
        this.applyTables(stepTables(this.requireTables(), input, this.clock.now()));
      });
    if (!rec || rec.addr === '') {
      fail();
      return;
    }
    this.startStream(rec.addr, body, (reply) => {
      if (!reply) {
        fail();
        return;
      }
      const b = reply.body;
      this.guard('table reply', () =>
        this.run(() => {
          const now = this.clock.now();
          if (body.kind === 'table-sync' && b.kind === 'table-sync-reply') {
            this.applyTables(stepTables(this.requireTables(), { type: 'sync-reply', peer: toNode, network, body: b }, now));
          } else if (body.kind === 'table-fetch' && b.kind === 'table-fetch-reply') {
            this.applyTables(stepTables(this.requireTables(), { type: 'fetch-reply', peer: toNode, network, body: b }, now));
          }
        }),
      );
    });
  }

  private deliverLarge(to: string, messages: GossipMessage[]): void {
    for (const m of messages) {
      this.startStream(to, { kind: 'deliver', messages: [m] }, () => undefined);
    }
  }
}

interface JoinTracker {
  pending: number;
  ok: number;
  readonly errors: string[];
  readonly resolve: (n: number) => void;
  readonly reject: (err: Error) => void;
}
