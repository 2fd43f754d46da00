/**
 * The SWIM membership state machine with Lifeguard, as a pure function of events:
 *
 *   step(state, event, now) -> effects
 *
 * No timers, sockets or wall clock inside. The runtime feeds it events (a timer tick, a
 * received datagram's membership messages, a push-pull state, join/leave requests) and
 * carries out the effects it returns (send these messages to that address, run a push-pull
 * with that address, report a member event). Deadlines live in the state; the runtime arms
 * one timer for nextWake(state). Randomness comes from the seeded Rng in the state, so a
 * seed replays a run exactly. The state is mutated in place (a 1,000-node simulation cannot
 * afford to copy it on every message); nothing else mutates it.
 *
 * What it implements:
 * - Probing: every probe interval one member, in a random round-robin order, gets a Ping;
 *   after the probe timeout `indirectChecks` helpers get an IndirectPing; no ack by the end
 *   of the interval makes the target suspect.
 * - Lifeguard: local health (awareness.ts) scales the probe timeout and interval; helpers
 *   answer Nack when the target is silent, and missing nacks raise our own score; the
 *   suspicion timeout shrinks with independent confirmations (suspicion.ts); a probe of a
 *   suspect carries the suspicion so it can refute at once (the buddy system).
 * - States alive, suspect, dead, left; incarnation numbers; refutation by a higher
 *   incarnation, sent to the whole cluster and directly to whoever accused us.
 * - Dissemination: every state change is queued for piggybacking (broadcast-queue.ts) on
 *   gossip rounds and on probes/acks, each sent retransmitMult x ceil(log10(N + 1)) times.
 * - Push-pull of the full member list with one random member, at an interval that grows
 *   with log N; join through seeds; reconnect attempts to failed members (heals
 *   partitions); graceful leave.
 * - Restarts under the same name: stale alive messages (lower incarnation than the death we
 *   hold) make us send the accusation straight to the restarted node so it refutes, death
 *   notices about unknown nodes are remembered and passed on, and failure evidence with a
 *   higher incarnation raises the stored incarnation (no resurrection by older rumours).
 */
import type { Rng } from '../common/rng.ts';
import { applyAwareness, scaleByAwareness } from './awareness.ts';
import { BroadcastQueue } from './broadcast-queue.ts';
import { intervalScale, retransmitLimit, suspicionMaxMs, suspicionMinMs, type GossipConfig } from './config.ts';
import { MemberTable, type MemberRecord, type MembershipSnapshot } from './member-table.ts';
import { DeadlineHeap } from './deadline-heap.ts';
import { confirmSuspicion, startSuspicion, type Suspicion } from './suspicion.ts';
import {
  PROTOCOL_MAX,
  PROTOCOL_MIN,
  type AliveMsg,
  type DeadMsg,
  type GossipMessage,
  type MemberStateWire,
  type MemberStatus,
  type SuspectMsg,
  type SwimMsg,
} from './messages.ts';
import { framedSize, packetBudget } from './wire-size.ts';

// ---------------------------------------------------------------------------------------
// Public shapes

export interface MemberInfo {
  readonly name: string;
  readonly addr: string;
  readonly state: MemberStatus;
  readonly incarnation: number;
}

export type MemberEventKind = 'joined' | 'updated' | 'suspected' | 'recovered' | 'failed' | 'left' | 'removed';

export interface MemberEvent {
  readonly kind: MemberEventKind;
  readonly member: MemberInfo;
}

export type SwimEvent =
  /** Time passed: run whatever is due. */
  | { readonly type: 'tick' }
  /** Membership messages of one received datagram (or delivered frame). */
  | { readonly type: 'packet'; readonly from: string; readonly sender: string; readonly messages: readonly SwimMsg[] }
  /** Join through these seed addresses (push-pull with each). */
  | { readonly type: 'join'; readonly seeds: readonly string[] }
  /** A remote member list, from a push-pull request we served or a reply we got. */
  | {
      readonly type: 'push-pull';
      readonly from: string;
      readonly sender: string;
      readonly members: readonly MemberStateWire[];
      readonly weJoined: boolean;
    }
  /** Leave gracefully. */
  | { readonly type: 'leave' }
  /** Queue a cluster-wide broadcast on behalf of another layer (tables' network events). */
  | { readonly type: 'broadcast'; readonly key: string; readonly message: GossipMessage };

export type SwimEffect =
  | { readonly type: 'send'; readonly to: string; readonly messages: GossipMessage[] }
  | { readonly type: 'push-pull'; readonly to: string; readonly join: boolean }
  | { readonly type: 'member'; readonly event: MemberEvent }
  /** The leave notice has been gossiped its full number of times (or could not be). */
  | { readonly type: 'left' };

export interface SwimStats {
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  suspicionsRaised: number;
  refutations: number;
  deathsDeclared: number;
  accusationsSent: number;
}

export interface SwimOptions {
  readonly name: string;
  readonly addr: string;
  readonly config: GossipConfig;
  readonly rng: Rng;
  readonly now: number;
  /** First incarnation. The runtime derives it from the wall clock (seconds), so a node
   *  restarted under the same name starts above anything its previous life announced. */
  readonly incarnation: number;
  /** Start from an already formed membership (simulations and benchmarks). */
  readonly snapshot?: MembershipSnapshot;
}

interface Probe {
  readonly target: string;
  readonly targetAddr: string;
  readonly seq: number;
  readonly ackDeadline: number;
  readonly deadline: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  readonly origSeq: number;
  readonly requester: string;
  readonly deadline: number;
  readonly wantNack: boolean;
}

export type SwimStatus = 'running' | 'leaving' | 'left';

export interface SwimState {
  readonly name: string;
  readonly config: GossipConfig;
  readonly rng: Rng;
  addr: string;
  incarnation: number;
  status: SwimStatus;
  readonly members: MemberTable;
  readonly self: MemberRecord;
  awareness: number;
  seq: number;
  probe: Probe | undefined;
  readonly relays: Map<number, Relay>;
  readonly suspicions: Map<string, Suspicion>;
  /** Suspicion deadlines, earliest first (stale entries dropped lazily). */
  readonly suspicionDeadlines: DeadlineHeap;
  /** Dead and left members and when they went, for reaping without a full scan. */
  readonly gone: Map<string, number>;
  readonly queue: BroadcastQueue<GossipMessage>;
  /** Bytes of framed messages one datagram can carry. */
  readonly budget: number;
  nextProbeAt: number;
  nextGossipAt: number;
  nextPushPullAt: number;
  /** Current delay of the post-join push-pull backoff, ms (0 when over). */
  settleDelay: number;
  nextReconnectAt: number;
  nextReapAt: number;
  /** Effects produced outside a step's own flow (queue callbacks), flushed by step. */
  readonly deferred: SwimEffect[];
  readonly stats: SwimStats;
}

// ---------------------------------------------------------------------------------------
// Construction and queries

export function createSwimState(o: SwimOptions): SwimState {
  const members = new MemberTable(o.name, o.snapshot);
  let self = members.get(o.name);
  // In a snapshot the node has already announced itself: keep the snapshot's incarnation.
  const fromSnapshot = self !== undefined;
  const incarnation = fromSnapshot ? self!.incarnation : o.incarnation;
  if (!self) {
    self = { name: o.name, addr: o.addr, incarnation, state: 'alive', since: o.now, accusedAt: -Infinity };
    members.add(self);
  } else {
    self.addr = o.addr;
    self.incarnation = incarnation;
  }
  const c = o.config;
  const s: SwimState = {
    name: o.name,
    config: c,
    rng: o.rng,
    addr: o.addr,
    incarnation,
    status: 'running',
    members,
    self,
    awareness: 0,
    seq: o.rng.int(0x7fffffff),
    probe: undefined,
    relays: new Map(),
    suspicions: new Map(),
    suspicionDeadlines: new DeadlineHeap(),
    gone: new Map(),
    queue: new BroadcastQueue<GossipMessage>({ maxLength: c.broadcastQueueMax, sizeOf: framedSize }),
    budget: packetBudget(c.packetBytes, o.name),
    // Random phases so that nodes started together do not probe and gossip in lockstep.
    nextProbeAt: o.now + o.rng.int(c.probeIntervalMs),
    nextGossipAt: o.now + o.rng.int(c.gossipIntervalMs),
    nextPushPullAt: o.now + c.pushPullIntervalMs * intervalScale(members.liveCount) * (0.5 + o.rng.next()),
    settleDelay: 0,
    nextReconnectAt: o.now + c.reconnectIntervalMs * (0.5 + o.rng.next()),
    nextReapAt: o.now + c.reapIntervalMs,
    deferred: [],
    stats: { probes: 0, probeFailures: 0, indirectProbes: 0, suspicionsRaised: 0, refutations: 0, deathsDeclared: 0, accusationsSent: 0 },
  };
  if (!fromSnapshot) s.queue.enqueue(s.name, aliveOf(s));
  return s;
}

/** The earliest time at which step(tick) has something to do. */
export function nextWake(s: SwimState): number {
  let t = Math.min(s.nextGossipAt, s.nextReapAt);
  if (s.status === 'running') t = Math.min(t, s.nextProbeAt, s.nextPushPullAt, s.nextReconnectAt);
  if (s.probe) t = Math.min(t, s.probe.indirectSent ? s.probe.deadline : s.probe.ackDeadline);
  t = Math.min(
    t,
    s.suspicionDeadlines.peek((node) => s.suspicions.get(node)?.deadline),
  );
  for (const r of s.relays.values()) if (r.deadline < t) t = r.deadline;
  return t;
}

export function memberInfo(r: Readonly<MemberRecord>): MemberInfo {
  return { name: r.name, addr: r.addr, state: r.state, incarnation: r.incarnation };
}

/** Our member list as sent in a push-pull (address-less death notices omitted). */
export function exportMembers(s: SwimState): MemberStateWire[] {
  const out: MemberStateWire[] = [];
  s.members.forEach((r) => {
    if (r.addr !== '') out.push({ node: r.name, addr: r.addr, incarnation: r.incarnation, status: r.state });
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// The step function

export function step(s: SwimState, ev: SwimEvent, now: number): SwimEffect[] {
  const out: SwimEffect[] = [];
  switch (ev.type) {
    case 'tick':
      tick(s, now, out);
      break;
    case 'packet':
      for (const m of ev.messages) handleMessage(s, m, ev.from, ev.sender, now, out);
      break;
    case 'join':
      if (s.status !== 'running') rejoin(s, now);
      for (const seed of ev.seeds) out.push({ type: 'push-pull', to: seed, join: true });
      startSettling(s, now);
      break;
    case 'push-pull':
      merge(s, ev.members, ev.from, ev.sender, ev.weJoined ? 'join' : 'pull', now, out);
      break;
    case 'leave':
      leave(s, now, out);
      break;
    case 'broadcast':
      s.queue.enqueue(ev.key, ev.message);
      break;
  }
  if (s.deferred.length > 0) out.push(...s.deferred.splice(0));
  return out;
}

function tick(s: SwimState, now: number, out: SwimEffect[]): void {
  const c = s.config;
  // Probe in flight: indirect stage, then verdict.
  const p = s.probe;
  if (p && !p.indirectSent && now >= p.ackDeadline) sendIndirect(s, p, out);
  if (p && now >= p.deadline) probeFailed(s, p, now, out);

  if (s.status === 'running' && now >= s.nextProbeAt && !s.probe) {
    startProbe(s, now, out);
    s.nextProbeAt = now + scaleByAwareness(c.probeIntervalMs, s.awareness);
  }

  for (const [seq, r] of s.relays) {
    if (now < r.deadline) continue;
    s.relays.delete(seq);
    if (r.wantNack) send(s, r.requester, [{ kind: 'nack', seq: r.origSeq }], out);
  }

  for (const node of s.suspicionDeadlines.popDue(now, (n) => s.suspicions.get(n)?.deadline)) {
    suspicionExpired(s, node, s.suspicions.get(node)!, now, out);
  }

  if (now >= s.nextGossipAt) {
    gossipRound(s, out);
    s.nextGossipAt = Math.max(s.nextGossipAt + c.gossipIntervalMs, now);
  }

  if (s.status === 'running' && now >= s.nextPushPullAt) {
    const [peer] = s.members.live.sample(s.rng, 1);
    const rec = peer === undefined ? undefined : s.members.peek(peer);
    if (rec) out.push({ type: 'push-pull', to: rec.addr, join: false });
    const regular = c.pushPullIntervalMs * intervalScale(s.members.liveCount);
    if (s.settleDelay > 0) s.settleDelay *= 2;
    if (s.settleDelay >= regular) s.settleDelay = 0;
    s.nextPushPullAt = now + (s.settleDelay > 0 ? s.settleDelay : regular) * (0.75 + 0.5 * s.rng.next());
  }

  if (s.status === 'running' && now >= s.nextReconnectAt) {
    // Each node tries with probability failed/live, so the whole cluster makes about one
    // attempt per failed member per interval, however large it is.
    const failed = s.members.failed.size;
    if (failed > 0 && s.rng.next() * s.members.liveCount < failed) {
      const [peer] = s.members.failed.sample(s.rng, 1);
      const rec = peer === undefined ? undefined : s.members.peek(peer);
      if (rec && rec.addr !== '') out.push({ type: 'push-pull', to: rec.addr, join: false });
    }
    s.nextReconnectAt = now + c.reconnectIntervalMs * (0.5 + s.rng.next());
  }

  if (now >= s.nextReapAt) {
    reap(s, now, out);
    s.nextReapAt = now + c.reapIntervalMs;
  }
}

// ----- probing -----

function startProbe(s: SwimState, now: number, out: SwimEffect[]): void {
  const target = s.members.nextProbeTarget(s.rng);
  if (target === undefined) return;
  const rec = s.members.peek(target);
  if (!rec) return;
  const c = s.config;
  const seq = nextSeq(s);
  const msgs: GossipMessage[] = [{ kind: 'ping', seq, target }];
  // Buddy system: a suspect learns of its suspicion from the probe itself.
  if (rec.state === 'suspect') msgs.push({ kind: 'suspect', node: target, incarnation: rec.incarnation, from: s.name });
  s.probe = {
    target,
    targetAddr: rec.addr,
    seq,
    ackDeadline: now + scaleByAwareness(c.probeTimeoutMs, s.awareness),
    deadline: now + scaleByAwareness(c.probeIntervalMs, s.awareness),
    indirectSent: false,
    expectedNacks: 0,
    nacks: 0,
  };
  s.stats.probes++;
  send(s, rec.addr, msgs, out);
}

function sendIndirect(s: SwimState, p: Probe, out: SwimEffect[]): void {
  p.indirectSent = true;
  const helpers = s.members.live.sample(s.rng, s.config.indirectChecks, (n) => n === p.target);
  for (const h of helpers) {
    const rec = s.members.peek(h);
    if (!rec) continue;
    p.expectedNacks++;
    s.stats.indirectProbes++;
    send(s, rec.addr, [{ kind: 'indirect-ping', seq: p.seq, target: p.target, targetAddr: p.targetAddr, wantNack: true }], out);
  }
}

function probeSucceeded(s: SwimState): void {
  s.probe = undefined;
  s.awareness = applyAwareness(s.awareness, -1, s.config.awarenessMaxMultiplier);
}

function probeFailed(s: SwimState, p: Probe, now: number, out: SwimEffect[]): void {
  s.probe = undefined;
  s.stats.probeFailures++;
  // Helpers that did not even nack suggest that our own links or CPU are the problem.
  const delta = p.expectedNacks > 0 ? p.expectedNacks - p.nacks : 1;
  s.awareness = applyAwareness(s.awareness, delta, s.config.awarenessMaxMultiplier);
  const rec = s.members.peek(p.target);
  if (!rec || (rec.state !== 'alive' && rec.state !== 'suspect') || s.status !== 'running') return;
  // A target already suspect (on someone else's word) gets our independent confirmation.
  s.stats.suspicionsRaised++;
  handleSuspect(s, { kind: 'suspect', node: p.target, incarnation: rec.incarnation, from: s.name }, '', now, out);
}

function suspicionExpired(s: SwimState, node: string, sus: Suspicion, now: number, out: SwimEffect[]): void {
  s.suspicions.delete(node);
  const rec = s.members.peek(node);
  if (!rec || rec.state !== 'suspect' || rec.incarnation !== sus.incarnation) return;
  s.stats.deathsDeclared++;
  handleDead(s, { kind: 'dead', node, incarnation: rec.incarnation, from: s.name }, '', now, out);
}

// ----- messages -----

function handleMessage(s: SwimState, m: SwimMsg, from: string, sender: string, now: number, out: SwimEffect[]): void {
  switch (m.kind) {
    case 'ping':
      if (m.target !== '' && m.target !== s.name) return; // meant for a previous owner of this address
      send(s, from, [{ kind: 'ack', seq: m.seq }], out);
      accuseIfDead(s, sender, from, now, out);
      return;
    case 'indirect-ping': {
      const seq = nextSeq(s);
      // Nack a little before a requester with our timing gives up (it asked after one probe
      // timeout and waits until the end of its probe interval, at least one more timeout).
      s.relays.set(seq, { origSeq: m.seq, requester: from, deadline: now + 0.8 * s.config.probeTimeoutMs, wantNack: m.wantNack });
      send(s, m.targetAddr, [{ kind: 'ping', seq, target: m.target }], out);
      return;
    }
    case 'ack': {
      if (s.probe && s.probe.seq === m.seq) {
        probeSucceeded(s);
        return;
      }
      const relay = s.relays.get(m.seq);
      if (relay) {
        s.relays.delete(m.seq);
        send(s, relay.requester, [{ kind: 'ack', seq: relay.origSeq }], out);
      }
      return;
    }
    case 'nack':
      if (s.probe && s.probe.seq === m.seq) s.probe.nacks++;
      return;
    case 'alive':
      handleAlive(s, m, from, now, out, 'gossip');
      return;
    case 'suspect':
      handleSuspect(s, m, from, now, out);
      return;
    case 'dead':
      handleDead(s, m, from, now, out);
      return;
  }
}

/**
 * How an alive message reached us, which decides whether its news is passed on:
 * 'gossip' always; 'pull' (a push-pull merge) only when it overturns a suspicion or death we
 * held, since others may hold it too, while a member we merely had not heard of yet is news
 * to us alone (everyone else heard the member's own announcement); 'join' never.
 */
type AliveSource = 'gossip' | 'pull' | 'join';

function handleAlive(s: SwimState, m: AliveMsg, from: string, now: number, out: SwimEffect[], source: AliveSource): void {
  if (m.protocolMax < PROTOCOL_MIN || m.protocolMin > PROTOCOL_MAX) return; // speaks no version we do
  if (m.node === s.name) {
    // Someone announces us with a newer incarnation (our previous life): outbid it.
    if (m.incarnation > s.incarnation && s.status === 'running') refute(s, m.incarnation, from, out);
    return;
  }
  const cur = s.members.peek(m.node);
  if (!cur) {
    s.members.add({ name: m.node, addr: m.addr, incarnation: m.incarnation, state: 'alive', since: now, accusedAt: -Infinity });
    emit('joined', s.members.get(m.node)!, out);
    if (source === 'gossip') s.queue.enqueue(m.node, m);
    return;
  }
  if (m.incarnation <= cur.incarnation) {
    // A stale announcement of a node we hold dead: it restarted and does not know it was
    // declared dead. Tell it directly so it refutes (memberlist#311, #345).
    if (cur.state === 'dead' && m.addr !== '' && now - cur.accusedAt >= s.config.probeIntervalMs) {
      const rec = s.members.get(m.node)!;
      rec.accusedAt = now;
      s.stats.accusationsSent++;
      send(s, m.addr, [{ kind: 'dead', node: rec.name, incarnation: rec.incarnation, from: s.name }], out);
    }
    return;
  }
  const rec = s.members.get(m.node)!;
  const prev = rec.state;
  const moved = rec.addr !== m.addr;
  rec.incarnation = m.incarnation;
  rec.addr = m.addr;
  s.suspicions.delete(m.node);
  s.gone.delete(m.node);
  s.members.setState(rec, 'alive', now);
  if (prev === 'dead' || prev === 'left') emit('joined', rec, out);
  else if (prev === 'suspect') emit('recovered', rec, out);
  else if (moved) emit('updated', rec, out);
  if (source === 'gossip' || (source === 'pull' && prev !== 'alive')) s.queue.enqueue(m.node, m);
}

function handleSuspect(s: SwimState, m: SuspectMsg, from: string, now: number, out: SwimEffect[]): void {
  if (m.node === s.name) {
    if (m.incarnation >= s.incarnation && s.status === 'running') refute(s, m.incarnation, from, out);
    return;
  }
  const cur = s.members.peek(m.node);
  if (!cur || m.incarnation < cur.incarnation) return;
  const rec = s.members.get(m.node)!;
  if (rec.state === 'dead' || rec.state === 'left') {
    if (m.incarnation > rec.incarnation) rec.incarnation = m.incarnation; // monotone: no resurrection by older alive
    return;
  }
  if (rec.state === 'suspect' && m.incarnation === rec.incarnation) {
    const sus = s.suspicions.get(m.node);
    if (sus && confirmSuspicion(sus, m.from)) {
      s.suspicionDeadlines.push(sus.deadline, m.node);
      s.queue.enqueue(m.node, m); // spread the confirmation
    }
    return;
  }
  const n = s.members.liveCount;
  // No more confirmations can come than there are other members to send them.
  const k = Math.min(s.config.suspicionConfirmations, Math.max(0, n - 2));
  rec.incarnation = m.incarnation;
  s.members.setState(rec, 'suspect', now);
  const sus = startSuspicion(m.node, m.incarnation, m.from, now, suspicionMinMs(s.config, n), suspicionMaxMs(s.config, n), k);
  s.suspicions.set(m.node, sus);
  s.suspicionDeadlines.push(sus.deadline, m.node);
  emit('suspected', rec, out);
  s.queue.enqueue(m.node, m);
}

function handleDead(s: SwimState, m: DeadMsg, from: string, now: number, out: SwimEffect[]): void {
  const leaving = m.from === m.node;
  if (m.node === s.name) {
    if (s.status === 'running' && m.incarnation >= s.incarnation) {
      refute(s, m.incarnation, from, out);
      startSettling(s, now);
    }
    return;
  }
  const cur = s.members.peek(m.node);
  if (!cur) {
    // Remember the death of a node we never heard of and pass it on: if that node restarts,
    // its stale announcement will meet this record and be told to refute (memberlist#345).
    s.members.add({
      name: m.node,
      addr: '',
      incarnation: m.incarnation,
      state: leaving ? 'left' : 'dead',
      since: now,
      accusedAt: -Infinity,
    });
    s.gone.set(m.node, now);
    s.queue.enqueue(m.node, m);
    return;
  }
  if (m.incarnation < cur.incarnation) return;
  if ((cur.state === 'dead' || cur.state === 'left') && m.incarnation === cur.incarnation && !(leaving && cur.state === 'dead')) return;
  const rec = s.members.get(m.node)!;
  if (rec.state === 'dead' || rec.state === 'left') {
    if (m.incarnation > rec.incarnation) rec.incarnation = m.incarnation;
    if (leaving && rec.state === 'dead') s.members.setState(rec, 'left', now);
    return;
  }
  rec.incarnation = m.incarnation;
  s.suspicions.delete(m.node);
  s.members.setState(rec, leaving ? 'left' : 'dead', now);
  s.gone.set(m.node, now);
  emit(leaving ? 'left' : 'failed', rec, out);
  s.queue.enqueue(m.node, m);
}

/**
 * Push-pull soon and then at doubling intervals (joinPushPullBackoffMs): after a join, and
 * after learning that others had declared us dead (we were cut off, so our own view of
 * them is stale in ways nobody will gossip to us: deaths we declared on our side of a
 * partition are old news here and are never rebroadcast, only a full exchange fixes them).
 */
function startSettling(s: SwimState, now: number): void {
  if (s.config.joinPushPullBackoffMs <= 0 || s.settleDelay > 0) return;
  s.settleDelay = s.config.joinPushPullBackoffMs;
  s.nextPushPullAt = Math.min(s.nextPushPullAt, now + s.settleDelay * (0.75 + 0.5 * s.rng.next()));
}

function refute(s: SwimState, accusedAt: number, accuser: string, out: SwimEffect[]): void {
  s.incarnation = Math.max(s.incarnation, accusedAt) + 1;
  s.self.incarnation = s.incarnation;
  s.stats.refutations++;
  s.awareness = applyAwareness(s.awareness, 1, s.config.awarenessMaxMultiplier);
  const alive = aliveOf(s);
  s.queue.enqueue(s.name, alive);
  // Also straight back to the accuser, who may sit across a healed partition.
  if (accuser !== '') send(s, accuser, [alive], out);
}

/** A packet from a member we hold dead: tell it, so it refutes (rate-limited). */
function accuseIfDead(s: SwimState, sender: string, from: string, now: number, out: SwimEffect[]): void {
  if (sender === '' || sender === s.name) return;
  const cur = s.members.peek(sender);
  if (!cur || cur.state !== 'dead' || now - cur.accusedAt < s.config.probeIntervalMs) return;
  const rec = s.members.get(sender)!;
  rec.accusedAt = now;
  s.stats.accusationsSent++;
  send(s, from, [{ kind: 'dead', node: sender, incarnation: rec.incarnation, from: s.name }], out);
}

// ----- push-pull, join, leave -----

function merge(
  s: SwimState,
  members: readonly MemberStateWire[],
  from: string,
  sender: string,
  source: AliveSource,
  now: number,
  out: SwimEffect[],
): void {
  for (const m of members) {
    if (m.node === s.name && m.status === 'dead' && s.status === 'running' && m.incarnation >= s.incarnation) startSettling(s, now);
    switch (m.status) {
      case 'alive':
        handleAlive(
          s,
          { kind: 'alive', node: m.node, addr: m.addr, incarnation: m.incarnation, protocolMin: PROTOCOL_MIN, protocolMax: PROTOCOL_MAX },
          from,
          now,
          out,
          source,
        );
        break;
      case 'suspect':
        handleSuspect(s, { kind: 'suspect', node: m.node, incarnation: m.incarnation, from: sender }, from, now, out);
        break;
      case 'dead':
        // Another node's verdict becomes our suspicion: the node gets a chance to refute.
        handleSuspect(s, { kind: 'suspect', node: m.node, incarnation: m.incarnation, from: sender }, from, now, out);
        break;
      case 'left':
        handleDead(s, { kind: 'dead', node: m.node, incarnation: m.incarnation, from: m.node }, from, now, out);
        break;
    }
  }
}

function rejoin(s: SwimState, now: number): void {
  s.status = 'running';
  s.incarnation++;
  s.self.incarnation = s.incarnation;
  s.members.setState(s.self, 'alive', now);
  s.queue.enqueue(s.name, aliveOf(s));
}

function leave(s: SwimState, now: number, out: SwimEffect[]): void {
  if (s.status !== 'running') {
    if (s.status === 'left') out.push({ type: 'left' });
    return;
  }
  s.status = 'leaving';
  s.probe = undefined;
  s.members.setState(s.self, 'left', now);
  const msg: DeadMsg = { kind: 'dead', node: s.name, incarnation: s.incarnation, from: s.name };
  if (s.members.live.size === 0) {
    s.status = 'left';
    out.push({ type: 'left' });
    return;
  }
  s.queue.enqueue(s.name, msg, () => {
    s.status = 'left';
    s.deferred.push({ type: 'left' });
  });
  // Start spreading now rather than at the next round.
  gossipRound(s, out);
}

// ----- dissemination -----

function gossipRound(s: SwimState, out: SwimEffect[]): void {
  if (s.queue.length === 0) return;
  const targets = s.members.live.sample(s.rng, s.config.gossipNodes);
  const limit = retransmitLimit(s.config.retransmitMult, s.members.liveCount);
  for (const t of targets) {
    const rec = s.members.peek(t);
    if (!rec) continue;
    const msgs = s.queue.take(s.budget, limit, true);
    if (msgs.length === 0) break;
    out.push({ type: 'send', to: rec.addr, messages: msgs });
  }
}

/** Sends `msgs` to `to`, filling the rest of the datagram with queued broadcasts. */
function send(s: SwimState, to: string, msgs: GossipMessage[], out: SwimEffect[]): void {
  if (to === '') return;
  if (s.queue.length > 0) {
    let used = 0;
    for (const m of msgs) used += framedSize(m);
    const room = s.budget - used;
    if (room > 16) {
      const extra = s.queue.take(room, retransmitLimit(s.config.retransmitMult, s.members.liveCount));
      for (const m of extra) msgs.push(m);
    }
  }
  out.push({ type: 'send', to, messages: msgs });
}

function reap(s: SwimState, now: number, out: SwimEffect[]): void {
  for (const [name, since] of s.gone) {
    if (now - since < s.config.deadRetainMs) continue;
    s.gone.delete(name);
    const rec = s.members.get(name);
    if (!rec || (rec.state !== 'dead' && rec.state !== 'left')) continue;
    s.members.remove(name);
    emit('removed', rec, out);
  }
}

function emit(kind: MemberEventKind, rec: MemberRecord, out: SwimEffect[]): void {
  if (rec.addr === '' && kind !== 'removed') return; // address-less death notices are not members yet
  out.push({ type: 'member', event: { kind, member: memberInfo(rec) } });
}

function aliveOf(s: SwimState): AliveMsg {
  return { kind: 'alive', node: s.name, addr: s.addr, incarnation: s.incarnation, protocolMin: PROTOCOL_MIN, protocolMax: PROTOCOL_MAX };
}

function nextSeq(s: SwimState): number {
  s.seq = (s.seq + 1) >>> 0;
  return s.seq;
}
