/**
 * Per-network replicated tables (networkdb-style), as a pure state machine:
 *
 *   stepTables(state, input, now) -> outputs
 *
 * Model. A network has tables of key/value entries. Each entry is owned by the node that
 * wrote it and versioned by that owner's Lamport time (ltime); only the owner changes it,
 * so a newer ltime always wins and no two writers ever conflict. A delete leaves a tombstone
 * (kept tombstoneReapMs) so that a late or reordered older version cannot resurrect it.
 * Which node is on which network is cluster-wide knowledge ("attachments", each versioned by
 * the node's own Lamport time) gossiped through the membership layer and carried in
 * push-pulls and in every table sync, and an entry itself proves that its owner was on the
 * network when it wrote it; so a node that missed a join notice still accepts the owner's
 * entries (the non-terminating-epidemic fault of moby#47728 cannot happen).
 *
 * Only members of a network receive, store or serve its tables. Dissemination: a new
 * version is queued on the network's broadcast queue and piggybacked on gossip to
 * `gossipNodes` random live members of that network per round, retransmitMult x
 * ceil(log10(n + 1)) times; a local write triggers a round at once. Anti-entropy: on joining
 * a network (with a few peers), periodically (one random peer), and when a member comes back
 * after being declared dead, two nodes exchange per-owner digests (count and an
 * order-independent hash of (table, key, ltime, deleted)), then the versions of the differing
 * owners only, then only the entries one side lacks; never whole dumps.
 *
 * Owners that fail or leave: their entries stay visible for ownerGraceMs (a flap changes
 * nothing), are then hidden from get/list/watch but kept, come back if the owner returns,
 * and are dropped after ownerReclaimMs. A node that restarts under the same name finds its
 * previous life's entries in the cluster and, being their owner, re-asserts or tombstones
 * them with a newer ltime (its clock starts from the wall clock, above its previous life).
 */
import type { Rng } from '../common/rng.ts';
import { BroadcastQueue } from './broadcast-queue.ts';
import { intervalScale, retransmitLimit, type GossipConfig } from './config.ts';
import type { MemberTable, MembershipSnapshot } from './member-table.ts';
import { SampledSet, type SharedNames } from './sampled-set.ts';
import type { MemberEvent } from './swim.ts';
import type {
  AttachmentDigestWire,
  AttachmentWire,
  EntryRefWire,
  EntryVersionWire,
  NetworkEventMsg,
  OwnerDigestWire,
  TableEventMsg,
  TableFetchBody,
  TableFetchReplyBody,
  TableSyncBody,
  TableSyncReplyBody,
} from './messages.ts';
import { framedSize, packetBudget } from './wire-size.ts';

// ---------------------------------------------------------------------------------------
// Public shapes

export type TableChangeKind = 'add' | 'update' | 'delete';

/** One change of what get/list show, reported to watchers. */
export interface TableChange {
  readonly kind: TableChangeKind;
  readonly network: string;
  readonly table: string;
  readonly key: string;
  readonly owner: string;
  /** The new value (add, update) or the last value (delete). */
  readonly value: Uint8Array;
  readonly ltime: number;
}

/** A visible entry. */
export interface TableEntry {
  readonly network: string;
  readonly table: string;
  readonly key: string;
  readonly owner: string;
  readonly value: Uint8Array;
  readonly ltime: number;
}

export type TablesInput =
  | { readonly type: 'tick' }
  | { readonly type: 'messages'; readonly messages: ReadonlyArray<TableEventMsg | NetworkEventMsg> }
  | { readonly type: 'member'; readonly event: MemberEvent }
  | { readonly type: 'set'; readonly network: string; readonly table: string; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly network: string; readonly table: string; readonly key: string }
  | { readonly type: 'join-network'; readonly network: string }
  | { readonly type: 'leave-network'; readonly network: string }
  | { readonly type: 'attachments'; readonly attachments: readonly AttachmentWire[] }
  | { readonly type: 'sync-request'; readonly body: TableSyncBody }
  | { readonly type: 'sync-reply'; readonly peer: string; readonly network: string; readonly body: TableSyncReplyBody | undefined }
  | { readonly type: 'fetch-request'; readonly body: TableFetchBody }
  | { readonly type: 'fetch-reply'; readonly peer: string; readonly network: string; readonly body: TableFetchReplyBody | undefined };

export type TablesOutput =
  /** Send table events to a member (by node name). */
  | { readonly type: 'send'; readonly to: string; readonly messages: TableEventMsg[] }
  /** Gossip a cluster-wide message (through the membership layer's queue). */
  | { readonly type: 'broadcast'; readonly key: string; readonly message: NetworkEventMsg }
  /** Run a stream request with a member; its reply comes back as sync-reply / fetch-reply. */
  | { readonly type: 'request'; readonly to: string; readonly body: TableSyncBody | TableFetchBody }
  /** The reply to the stream request being served. */
  | { readonly type: 'reply'; readonly body: TableSyncReplyBody | TableFetchReplyBody }
  | { readonly type: 'watch'; readonly change: TableChange };

export interface TablesStats {
  eventsApplied: number;
  eventsStale: number;
  eventsRefused: number;
  syncsStarted: number;
  syncsCompleted: number;
  entriesFetched: number;
  entriesPushed: number;
  tombstonesReaped: number;
}

export interface TablesOptions {
  readonly name: string;
  readonly config: GossipConfig;
  readonly rng: Rng;
  readonly now: number;
  /** Initial Lamport time; the runtime uses the wall clock in ms (see module header). */
  readonly ltime: number;
  /** The membership layer's member table (read for liveness and sampling only). */
  readonly members: MemberTable;
  readonly snapshot?: MembershipSnapshot;
}

// ---------------------------------------------------------------------------------------
// State

interface Stored {
  msg: TableEventMsg;
  /** When a tombstone may be dropped, ms; 0 for live entries. */
  reapAt: number;
}

interface OwnerSummary {
  count: number;
  lo: number;
  hi: number;
  readonly entries: Set<Stored>;
}

interface NetState {
  readonly id: string;
  /** table -> owner -> key -> entry (nested maps: no string building per lookup) */
  readonly tables: Map<string, Map<string, Map<string, Stored>>>;
  readonly owners: Map<string, OwnerSummary>;
  readonly tombstones: Set<Stored>;
  readonly queue: BroadcastQueue<TableEventMsg>;
  /** Sync-learned entries are re-gossiped only once in sync (a joiner's catch-up is old news). */
  inSync: boolean;
  /** At least one sync with a peer completed. */
  synced: boolean;
  urgent: boolean;
  nextSyncAt: number;
  lastHealSyncAt: number;
}

interface Fact {
  ltime: number;
  joined: boolean;
}

interface NetAttach {
  readonly facts: Map<string, Fact>;
  /** Nodes whose latest fact is "joined". */
  readonly joined: SampledSet;
  /** Snapshot networks: base members are joined at ltime 1 unless a fact says otherwise. */
  readonly base: SharedNames | undefined;
  /** Count and order-independent hash of every fact (base included), kept in step. */
  count: number;
  lo: number;
  hi: number;
}

interface OwnerStatus {
  visible: boolean;
  goneSince: number;
  reclaimed: boolean;
}

export interface TablesState {
  readonly name: string;
  readonly config: GossipConfig;
  readonly rng: Rng;
  readonly members: MemberTable;
  readonly snapshot: MembershipSnapshot | undefined;
  ltime: number;
  readonly networks: Map<string, NetState>;
  readonly attach: Map<string, NetAttach>;
  readonly owners: Map<string, OwnerStatus>;
  /** Gone owners in the order they went: grace deadlines, then reclaim deadlines. */
  readonly graceQueue: Array<{ owner: string; since: number }>;
  readonly reclaimQueue: Array<{ owner: string; since: number }>;
  readonly budget: number;
  nextGossipAt: number;
  nextReapAt: number;
  readonly stats: TablesStats;
}

export function createTablesState(o: TablesOptions): TablesState {
  const s: TablesState = {
    name: o.name,
    config: o.config,
    rng: o.rng,
    members: o.members,
    snapshot: o.snapshot,
    ltime: o.ltime,
    networks: new Map(),
    attach: new Map(),
    owners: new Map(),
    graceQueue: [],
    reclaimQueue: [],
    budget: packetBudget(o.config.packetBytes, o.name),
    nextGossipAt: o.now + o.rng.int(o.config.gossipIntervalMs),
    nextReapAt: o.now + o.config.reapIntervalMs,
    stats: {
      eventsApplied: 0,
      eventsStale: 0,
      eventsRefused: 0,
      syncsStarted: 0,
      syncsCompleted: 0,
      entriesFetched: 0,
      entriesPushed: 0,
      tombstonesReaped: 0,
    },
  };
  if (o.snapshot) {
    for (const n of o.snapshot.networks) {
      const d = baseDigest(n.members);
      s.attach.set(n.id, {
        facts: new Map(),
        joined: new SampledSet(n.members),
        base: n.members,
        count: d.count,
        lo: d.hashLo,
        hi: d.hashHi,
      });
      if (n.members.index.has(o.name)) s.networks.set(n.id, newNet(s, n.id, o.now, true));
    }
  }
  return s;
}

function newNet(s: TablesState, id: string, now: number, inSync: boolean): NetState {
  return {
    id,
    tables: new Map(),
    owners: new Map(),
    tombstones: new Set(),
    queue: new BroadcastQueue<TableEventMsg>({ maxLength: s.config.broadcastQueueMax, sizeOf: framedSize }),
    inSync,
    synced: inSync,
    urgent: false,
    nextSyncAt: inSync
      ? now + s.config.tableSyncIntervalMs * intervalScale(networkSize(s, id)) * (0.5 + s.rng.next())
      : now + s.config.healSyncMinIntervalMs,
    lastHealSyncAt: -Infinity,
  };
}

// ---------------------------------------------------------------------------------------
// Queries

export function nextTablesWake(s: TablesState): number {
  let t = Math.min(s.nextGossipAt, s.nextReapAt);
  for (const net of s.networks.values()) {
    if (net.urgent) return -Infinity;
    if (net.nextSyncAt < t) t = net.nextSyncAt;
  }
  const grace = s.graceQueue[0];
  if (grace) t = Math.min(t, grace.since + s.config.ownerGraceMs);
  const reclaim = s.reclaimQueue[0];
  if (reclaim) t = Math.min(t, reclaim.since + s.config.ownerReclaimMs);
  return t;
}

export function isJoined(s: TablesState, network: string): boolean {
  return s.networks.has(network);
}

/** At least one table sync with a peer of `network` completed since this node joined it. */
export function hasSynced(s: TablesState, network: string): boolean {
  return s.networks.get(network)?.synced ?? false;
}

export function joinedNetworks(s: TablesState): string[] {
  return [...s.networks.keys()];
}

/** Nodes (self included when joined) whose latest attachment says they are on `network`. */
export function networkNodes(s: TablesState, network: string): string[] {
  return s.attach.get(network)?.joined.toArray() ?? [];
}

function toEntry(msg: TableEventMsg): TableEntry {
  return { network: msg.network, table: msg.table, key: msg.key, owner: msg.owner, value: msg.value, ltime: msg.ltime };
}

/** The visible entry of (network, table, key) written by `owner`. */
export function getEntry(s: TablesState, network: string, table: string, key: string, owner: string): TableEntry | undefined {
  const net = s.networks.get(network);
  const st = net ? lookupEntry(net, table, owner, key) : undefined;
  if (!st || st.msg.deleted || !ownerVisible(s, owner)) return undefined;
  return toEntry(st.msg);
}

/** Visible entries of a table, in no particular order. */
export function listEntries(s: TablesState, network: string, table: string): TableEntry[] {
  const t = s.networks.get(network)?.tables.get(table);
  if (!t) return [];
  const out: TableEntry[] = [];
  for (const [owner, byKey] of t) {
    if (!ownerVisible(s, owner)) continue;
    for (const st of byKey.values()) if (!st.msg.deleted) out.push(toEntry(st.msg));
  }
  return out;
}

/** Every attachment fact known (for push-pull). */
export function exportAttachments(s: TablesState): AttachmentWire[] {
  const out: AttachmentWire[] = [];
  for (const [network, a] of s.attach) out.push(...attachmentsOf(a, network));
  return out;
}

function attachmentsOf(a: NetAttach, network: string): AttachmentWire[] {
  const out: AttachmentWire[] = [];
  for (const [node, f] of a.facts) out.push({ node, network, ltime: f.ltime, joined: f.joined });
  if (a.base) {
    for (const node of a.base.names) if (!a.facts.has(node)) out.push({ node, network, ltime: 1, joined: true });
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Step

export function stepTables(s: TablesState, input: TablesInput, now: number): TablesOutput[] {
  const out: TablesOutput[] = [];
  switch (input.type) {
    case 'tick':
      tick(s, now, out);
      break;
    case 'messages':
      for (const m of input.messages) {
        if (m.kind === 'table') applyEntry(s, m, 'gossip', now, out);
        else applyNetworkEvent(s, m, true, now, out);
      }
      break;
    case 'member':
      onMember(s, input.event, now, out);
      break;
    case 'set':
      localWrite(s, input.network, input.table, input.key, input.value, false, now, out);
      break;
    case 'delete':
      localWrite(s, input.network, input.table, input.key, EMPTY, true, now, out);
      break;
    case 'join-network':
      joinNetwork(s, input.network, now, out);
      break;
    case 'leave-network':
      leaveNetwork(s, input.network, now, out);
      break;
    case 'attachments':
      for (const a of input.attachments)
        applyNetworkEvent(s, { kind: 'network', node: a.node, network: a.network, ltime: a.ltime, joined: a.joined }, false, now, out);
      break;
    case 'sync-request':
      out.push({ type: 'reply', body: serveSync(s, input.body, now, out) });
      break;
    case 'sync-reply':
      onSyncReply(s, input.peer, input.network, input.body, now, out);
      break;
    case 'fetch-request':
      out.push({ type: 'reply', body: serveFetch(s, input.body, now, out) });
      break;
    case 'fetch-reply':
      onFetchReply(s, input.network, input.body, now, out);
      break;
  }
  return out;
}

const EMPTY = new Uint8Array(0);

function tick(s: TablesState, now: number, out: TablesOutput[]): void {
  const c = s.config;
  const regular = now >= s.nextGossipAt;
  for (const net of s.networks.values()) {
    if (regular || net.urgent) gossipRound(s, net, out);
    net.urgent = false;
    if (now >= net.nextSyncAt) {
      const [peer] = samplePeers(s, net.id, 1);
      if (peer !== undefined) startSync(s, net, peer, out);
      // Until a first sync succeeds (joined before knowing any peer, or every join sync
      // failed), retry quickly; afterwards at the anti-entropy interval.
      net.nextSyncAt = net.synced
        ? now + c.tableSyncIntervalMs * intervalScale(networkSize(s, net.id)) * (0.75 + 0.5 * s.rng.next())
        : now + Math.max(c.healSyncMinIntervalMs, c.gossipIntervalMs);
    }
  }
  if (regular) s.nextGossipAt = Math.max(s.nextGossipAt + c.gossipIntervalMs, now);
  processGone(s, now, out);
  if (now >= s.nextReapAt) {
    reap(s, now);
    s.nextReapAt = now + c.reapIntervalMs;
  }
}

function gossipRound(s: TablesState, net: NetState, out: TablesOutput[]): void {
  if (net.queue.length === 0) return;
  const limit = retransmitLimit(s.config.retransmitMult, networkSize(s, net.id));
  for (const peer of samplePeers(s, net.id, s.config.gossipNodes)) {
    const msgs = net.queue.take(s.budget, limit, true);
    if (msgs.length === 0) break;
    out.push({ type: 'send', to: peer, messages: msgs });
  }
}

function networkSize(s: TablesState, network: string): number {
  return s.attach.get(network)?.joined.size ?? 1;
}

/** Live members of a network other than self. */
function samplePeers(s: TablesState, network: string, k: number): string[] {
  const a = s.attach.get(network);
  if (!a) return [];
  const live = s.members.live;
  return a.joined.sample(s.rng, k, (n) => n === s.name || !live.has(n));
}

// ----- local operations -----

function nextLtime(s: TablesState): number {
  s.ltime += 1;
  return s.ltime;
}

function localWrite(
  s: TablesState,
  network: string,
  table: string,
  key: string,
  value: Uint8Array,
  deleted: boolean,
  now: number,
  out: TablesOutput[],
): void {
  const net = s.networks.get(network);
  if (!net) return; // the runtime checks membership before stepping
  const cur = lookupEntry(net, table, s.name, key);
  if (deleted && (!cur || cur.msg.deleted)) return; // deleting what is not there is success
  const msg: TableEventMsg = {
    kind: 'table',
    network,
    table,
    key,
    owner: s.name,
    ltime: nextLtime(s),
    deleted,
    value: deleted ? EMPTY : value,
    reapInMs: deleted ? s.config.tombstoneReapMs : 0,
  };
  store(s, net, msg, now, out);
  net.queue.enqueue(broadcastKey(msg), msg);
  net.urgent = true; // first round at once
}

function joinNetwork(s: TablesState, network: string, now: number, out: TablesOutput[]): void {
  if (s.networks.has(network)) return;
  const ltime = nextLtime(s);
  const ev: NetworkEventMsg = { kind: 'network', node: s.name, network, ltime, joined: true };
  setFact(s, network, s.name, ltime, true);
  out.push({ type: 'broadcast', key: netKey(s.name, network), message: ev });
  const net = newNet(s, network, now, false);
  s.networks.set(network, net);
  const peers = samplePeers(s, network, s.config.joinSyncPeers);
  if (peers.length === 0) net.inSync = true; // first on the network: nothing to learn
  for (const p of peers) startSync(s, net, p, out);
}

function leaveNetwork(s: TablesState, network: string, now: number, out: TablesOutput[]): void {
  const net = s.networks.get(network);
  if (!net) return;
  const ltime = nextLtime(s);
  setFact(s, network, s.name, ltime, false);
  out.push({ type: 'broadcast', key: netKey(s.name, network), message: { kind: 'network', node: s.name, network, ltime, joined: false } });
  // What this node showed of the network goes away for its watchers.
  for (const [owner, o] of net.owners) {
    if (!ownerVisible(s, owner)) continue;
    for (const st of o.entries) if (!st.msg.deleted) out.push({ type: 'watch', change: change('delete', st.msg) });
  }
  net.queue.clear();
  s.networks.delete(network);
  void now;
}

// ----- applying remote state -----

type Source = 'gossip' | 'sync';

/** Applies a received entry version; true when it was news. */
function applyEntry(s: TablesState, ev: TableEventMsg, source: Source, now: number, out: TablesOutput[]): boolean {
  const net = s.networks.get(ev.network);
  if (!net) {
    s.stats.eventsRefused++;
    return false; // not on this network: never store its tables
  }
  const owner = ev.owner;
  const fact = factOf(s, ev.network, owner);
  if (fact && !fact.joined && fact.ltime >= ev.ltime) {
    s.stats.eventsStale++;
    return false; // the owner left the network after writing this
  }
  if (owner === s.name) return ownEcho(s, net, ev, now, out);
  const st = s.owners.get(owner);
  if (st?.reclaimed && !s.members.live.has(owner)) {
    s.stats.eventsRefused++;
    return false; // a long-gone owner's entries are not taken back in
  }
  if (!fact || (!fact.joined && fact.ltime < ev.ltime)) setFact(s, ev.network, owner, ev.ltime, true); // the entry proves the owner joined
  const cur = lookupEntry(net, ev.table, owner, ev.key);
  if (cur && cur.msg.ltime >= ev.ltime) {
    s.stats.eventsStale++;
    return false;
  }
  store(s, net, ev, now, out);
  s.stats.eventsApplied++;
  if (source === 'gossip' || net.inSync) net.queue.enqueue(broadcastKey(ev), ev);
  return true;
}

/**
 * A version of one of our own entries came back. If it is newer than what we hold, it is
 * from a previous life of this node: we are its owner, so we re-assert our current value (or
 * its absence) with a newer ltime.
 */
function ownEcho(s: TablesState, net: NetState, ev: TableEventMsg, now: number, out: TablesOutput[]): boolean {
  const cur = lookupEntry(net, ev.table, s.name, ev.key);
  if (cur && cur.msg.ltime >= ev.ltime) return false;
  s.ltime = Math.max(s.ltime, ev.ltime);
  const live = cur && !cur.msg.deleted;
  const msg: TableEventMsg = {
    kind: 'table',
    network: ev.network,
    table: ev.table,
    key: ev.key,
    owner: s.name,
    ltime: nextLtime(s),
    deleted: !live,
    value: live ? cur.msg.value : EMPTY,
    reapInMs: live ? 0 : s.config.tombstoneReapMs,
  };
  store(s, net, msg, now, out);
  net.queue.enqueue(broadcastKey(msg), msg);
  return true;
}

function applyNetworkEvent(s: TablesState, ev: NetworkEventMsg, rebroadcast: boolean, now: number, out: TablesOutput[]): boolean {
  const fact = factOf(s, ev.network, ev.node);
  if (fact && fact.ltime >= ev.ltime) return false;
  if (ev.node === s.name) {
    // A newer fact about ourselves: a previous life's. State the truth with a newer ltime.
    s.ltime = Math.max(s.ltime, ev.ltime);
    const joined = s.networks.has(ev.network);
    const ltime = nextLtime(s);
    setFact(s, ev.network, s.name, ltime, joined);
    out.push({
      type: 'broadcast',
      key: netKey(s.name, ev.network),
      message: { kind: 'network', node: s.name, network: ev.network, ltime, joined },
    });
    return true;
  }
  setFact(s, ev.network, ev.node, ev.ltime, ev.joined);
  const net = s.networks.get(ev.network);
  if (!ev.joined && net) {
    // The node left the network: its entries written before leaving go (no tombstones
    // needed; the leave fact itself refuses older versions).
    const o = net.owners.get(ev.node);
    for (const st of o ? [...o.entries] : []) {
      if (st.msg.ltime >= ev.ltime) continue;
      if (!st.msg.deleted && ownerVisible(s, ev.node)) out.push({ type: 'watch', change: change('delete', st.msg) });
      removeEntry(net, st);
    }
  }
  if (rebroadcast) out.push({ type: 'broadcast', key: netKey(ev.node, ev.network), message: ev });
  void now;
  return true;
}

/** Stores a version, keeps digests and indexes in step, reports the visible change. */
function store(s: TablesState, net: NetState, msg: TableEventMsg, now: number, out: TablesOutput[]): void {
  const cur = lookupEntry(net, msg.table, msg.owner, msg.key);
  const visible = ownerVisible(s, msg.owner);
  if (cur) {
    if (visible) {
      const was = !cur.msg.deleted;
      if (was && msg.deleted) out.push({ type: 'watch', change: change('delete', cur.msg) });
      else if (was && !msg.deleted) out.push({ type: 'watch', change: change('update', msg) });
      else if (!was && !msg.deleted) out.push({ type: 'watch', change: change('add', msg) });
    }
    unhash(net, cur);
    if (cur.reapAt !== 0) net.tombstones.delete(cur);
    cur.msg = msg;
    cur.reapAt = msg.deleted ? now + (msg.reapInMs > 0 ? msg.reapInMs : s.config.tombstoneReapMs) : 0;
    if (cur.reapAt !== 0) net.tombstones.add(cur);
    rehash(net, cur);
    return;
  }
  const st: Stored = { msg, reapAt: msg.deleted ? now + (msg.reapInMs > 0 ? msg.reapInMs : s.config.tombstoneReapMs) : 0 };
  let byOwner = net.tables.get(msg.table);
  if (!byOwner) {
    byOwner = new Map();
    net.tables.set(msg.table, byOwner);
  }
  let byKey = byOwner.get(msg.owner);
  if (!byKey) {
    byKey = new Map();
    byOwner.set(msg.owner, byKey);
  }
  byKey.set(msg.key, st);
  if (st.reapAt !== 0) net.tombstones.add(st);
  let o = net.owners.get(msg.owner);
  if (!o) {
    o = { count: 0, lo: 0, hi: 0, entries: new Set() };
    net.owners.set(msg.owner, o);
  }
  o.entries.add(st);
  rehash(net, st);
  if (visible && !msg.deleted) out.push({ type: 'watch', change: change('add', msg) });
}

function lookupEntry(net: NetState, table: string, owner: string, key: string): Stored | undefined {
  return net.tables.get(table)?.get(owner)?.get(key);
}

/** Drops a stored entry from every index. */
function removeEntry(net: NetState, st: Stored): void {
  const byOwner = net.tables.get(st.msg.table);
  const byKey = byOwner?.get(st.msg.owner);
  if (byKey?.get(st.msg.key) === st) {
    byKey.delete(st.msg.key);
    if (byKey.size === 0) byOwner!.delete(st.msg.owner);
    if (byOwner!.size === 0) net.tables.delete(st.msg.table);
  }
  unindex(net, st);
}

function unindex(net: NetState, st: Stored): void {
  unhash(net, st);
  net.tombstones.delete(st);
  const o = net.owners.get(st.msg.owner);
  if (o) {
    o.entries.delete(st);
    if (o.entries.size === 0) net.owners.delete(st.msg.owner);
  }
}

// ----- owners coming and going -----

function ownerVisible(s: TablesState, owner: string): boolean {
  if (owner === s.name) return true;
  const st = s.owners.get(owner);
  if (st) return st.visible;
  return s.members.live.has(owner);
}

function onMember(s: TablesState, ev: MemberEvent, now: number, out: TablesOutput[]): void {
  const name = ev.member.name;
  if (name === s.name) return;
  switch (ev.kind) {
    case 'joined':
    case 'recovered':
    case 'updated': {
      const st = s.owners.get(name);
      if (!st) {
        // Entries that arrived before we knew their owner were hidden until now.
        if (ev.kind === 'joined') showOwner(s, name, 'add', out);
        return;
      }
      s.owners.delete(name);
      if (!st.visible) showOwner(s, name, 'add', out);
      // Back after being declared gone: reconcile what changed meanwhile, once per network.
      for (const net of s.networks.values()) {
        if (now - net.lastHealSyncAt < s.config.healSyncMinIntervalMs) continue;
        if (!factOf(s, net.id, name)?.joined) continue;
        net.lastHealSyncAt = now;
        startSync(s, net, name, out);
      }
      return;
    }
    case 'failed':
    case 'left': {
      if (s.owners.has(name)) return;
      s.owners.set(name, { visible: true, goneSince: now, reclaimed: false });
      s.graceQueue.push({ owner: name, since: now });
      s.reclaimQueue.push({ owner: name, since: now });
      return;
    }
    case 'suspected':
    case 'removed':
      return;
  }
}

/** Hides owners whose grace expired and drops owners gone past the reclaim time. */
function processGone(s: TablesState, now: number, out: TablesOutput[]): void {
  const c = s.config;
  for (let head = s.graceQueue[0]; head && now >= head.since + c.ownerGraceMs; head = s.graceQueue[0]) {
    s.graceQueue.shift();
    const st = s.owners.get(head.owner);
    if (!st || st.goneSince !== head.since || !st.visible) continue; // came back meanwhile
    st.visible = false;
    showOwner(s, head.owner, 'delete', out);
  }
  for (let head = s.reclaimQueue[0]; head && now >= head.since + c.ownerReclaimMs; head = s.reclaimQueue[0]) {
    s.reclaimQueue.shift();
    const st = s.owners.get(head.owner);
    if (!st || st.goneSince !== head.since) continue;
    if (st.reclaimed) {
      s.owners.delete(head.owner); // refused stale copies for a whole period; forget it
      continue;
    }
    st.reclaimed = true;
    st.visible = false;
    for (const net of s.networks.values()) {
      const o = net.owners.get(head.owner);
      if (!o) continue;
      for (const stored of [...o.entries]) {
        removeEntry(net, stored);
      }
    }
    // Keep refusing stale copies of its entries for one more period, then forget it.
    st.goneSince = now;
    s.reclaimQueue.push({ owner: head.owner, since: now });
  }
}

function showOwner(s: TablesState, owner: string, kind: 'add' | 'delete', out: TablesOutput[]): void {
  for (const net of s.networks.values()) {
    const o = net.owners.get(owner);
    if (!o) continue;
    for (const st of o.entries) if (!st.msg.deleted) out.push({ type: 'watch', change: change(kind, st.msg) });
  }
}

function reap(s: TablesState, now: number): void {
  for (const net of s.networks.values()) {
    for (const st of net.tombstones) {
      if (st.reapAt > now) continue;
      removeEntry(net, st);
      s.stats.tombstonesReaped++;
    }
  }
}

// ----- anti-entropy -----

function startSync(s: TablesState, net: NetState, peer: string, out: TablesOutput[]): void {
  s.stats.syncsStarted++;
  out.push({
    type: 'request',
    to: peer,
    body: { kind: 'table-sync', network: net.id, owners: digests(net), attachments: attachDigest(s.attach.get(net.id)) },
  });
}

function attachDigest(a: NetAttach | undefined): AttachmentDigestWire {
  return a ? { count: a.count, hashLo: a.lo >>> 0, hashHi: a.hi >>> 0 } : { count: 0, hashLo: 0, hashHi: 0 };
}

function mergeAttachments(s: TablesState, network: string, list: readonly AttachmentWire[], now: number, out: TablesOutput[]): void {
  for (const a of list) {
    if (a.network === network)
      applyNetworkEvent(s, { kind: 'network', node: a.node, network: a.network, ltime: a.ltime, joined: a.joined }, false, now, out);
  }
}

function digests(net: NetState): OwnerDigestWire[] {
  const out: OwnerDigestWire[] = [];
  for (const [owner, o] of net.owners) out.push({ owner, count: o.count, hashLo: o.lo >>> 0, hashHi: o.hi >>> 0 });
  return out;
}

function serveSync(s: TablesState, body: TableSyncBody, now: number, out: TablesOutput[]): TableSyncReplyBody {
  void now;
  void out;
  // Who is on the network: the lists travel only when the two views differ.
  const a = s.attach.get(body.network);
  const mine = attachDigest(a);
  const other = body.attachments;
  const same = mine.count === other.count && mine.hashLo === other.hashLo && mine.hashHi === other.hashHi;
  const attachments = same || !a ? [] : attachmentsOf(a, body.network);
  const wantAttachments = !same;
  const net = s.networks.get(body.network);
  if (!net)
    return {
      kind: 'table-sync-reply',
      network: body.network,
      member: false,
      differingOwners: [],
      versions: [],
      attachments,
      wantAttachments: false,
    };
  const theirs = new Map<string, OwnerDigestWire>();
  for (const d of body.owners) theirs.set(d.owner, d);
  const differing: string[] = [];
  for (const [owner, o] of net.owners) {
    const d = theirs.get(owner);
    if (!d || d.count !== o.count || d.hashLo !== o.lo >>> 0 || d.hashHi !== o.hi >>> 0) differing.push(owner);
  }
  for (const owner of theirs.keys()) if (!net.owners.has(owner)) differing.push(owner);
  const versions: EntryVersionWire[] = [];
  for (const owner of differing) {
    const o = net.owners.get(owner);
    if (!o) continue;
    for (const st of o.entries)
      versions.push({ owner, table: st.msg.table, key: st.msg.key, ltime: st.msg.ltime, deleted: st.msg.deleted });
  }
  return {
    kind: 'table-sync-reply',
    network: body.network,
    member: true,
    differingOwners: differing,
    versions,
    attachments,
    wantAttachments,
  };
}

function onSyncReply(
  s: TablesState,
  peer: string,
  network: string,
  body: TableSyncReplyBody | undefined,
  now: number,
  out: TablesOutput[],
): void {
  if (!body) return; // failed: the periodic sync retries
  mergeAttachments(s, network, body.attachments, now, out);
  const net = s.networks.get(network);
  if (!net || !body.member) return;
  const theirs = new Map<string, EntryVersionWire>();
  for (const v of body.versions) theirs.set(`${v.table}\0${v.owner}\0${v.key}`, v);
  const want: EntryRefWire[] = [];
  const push: TableEventMsg[] = [];
  for (const v of body.versions) {
    const mine = lookupEntry(net, v.table, v.owner, v.key);
    if (!mine || mine.msg.ltime < v.ltime) want.push({ owner: v.owner, table: v.table, key: v.key });
  }
  for (const owner of body.differingOwners) {
    const o = net.owners.get(owner);
    if (!o) continue;
    for (const st of o.entries) {
      const v = theirs.get(`${st.msg.table}\0${owner}\0${st.msg.key}`);
      if (!v || v.ltime < st.msg.ltime) push.push(forTransfer(st, now));
    }
  }
  const a = s.attach.get(network);
  const attachments = body.wantAttachments && a ? attachmentsOf(a, network) : [];
  if (want.length === 0 && push.length === 0 && attachments.length === 0) {
    syncDone(s, net);
    return;
  }
  s.stats.entriesPushed += push.length;
  out.push({ type: 'request', to: peer, body: { kind: 'table-fetch', network, want, push, attachments } });
}

function serveFetch(s: TablesState, body: TableFetchBody, now: number, out: TablesOutput[]): TableFetchReplyBody {
  mergeAttachments(s, body.network, body.attachments, now, out);
  const net = s.networks.get(body.network);
  if (!net) return { kind: 'table-fetch-reply', network: body.network, entries: [] };
  for (const e of body.push) if (e.network === body.network) applyEntry(s, e, 'sync', now, out);
  const entries: TableEventMsg[] = [];
  for (const r of body.want) {
    const st = lookupEntry(net, r.table, r.owner, r.key);
    if (st) entries.push(forTransfer(st, now));
  }
  return { kind: 'table-fetch-reply', network: body.network, entries };
}

function onFetchReply(s: TablesState, network: string, body: TableFetchReplyBody | undefined, now: number, out: TablesOutput[]): void {
  const net = s.networks.get(network);
  if (!net || !body) return;
  for (const e of body.entries) {
    if (e.network !== network) continue;
    if (applyEntry(s, e, 'sync', now, out)) s.stats.entriesFetched++;
  }
  syncDone(s, net);
}

function syncDone(s: TablesState, net: NetState): void {
  s.stats.syncsCompleted++;
  net.inSync = true;
  net.synced = true;
}

/** A stored version as sent in a sync: tombstones carry the time they have left. */
function forTransfer(st: Stored, now: number): TableEventMsg {
  if (!st.msg.deleted) return st.msg;
  const left = Math.max(1, Math.min(0xffffffff, Math.round(st.reapAt - now)));
  return left === st.msg.reapInMs ? st.msg : { ...st.msg, reapInMs: left };
}

// ----- attachments -----

function factOf(s: TablesState, network: string, node: string): Fact | undefined {
  const a = s.attach.get(network);
  if (!a) return undefined;
  const f = a.facts.get(node);
  if (f) return f;
  if (a.base?.index.has(node)) return BASE_FACT;
  return undefined;
}

const BASE_FACT: Fact = Object.freeze({ ltime: 1, joined: true }) as Fact;

function setFact(s: TablesState, network: string, node: string, ltime: number, joined: boolean): void {
  let a = s.attach.get(network);
  if (!a) {
    a = { facts: new Map(), joined: new SampledSet(), base: undefined, count: 0, lo: 0, hi: 0 };
    s.attach.set(network, a);
  }
  const old = a.facts.get(node) ?? (a.base?.index.has(node) ? BASE_FACT : undefined);
  if (old) {
    hashFact(node, old.ltime, old.joined);
    a.lo ^= scratchLo;
    a.hi ^= scratchHi;
    a.count--;
  }
  hashFact(node, ltime, joined);
  a.lo ^= scratchLo;
  a.hi ^= scratchHi;
  a.count++;
  a.facts.set(node, { ltime, joined });
  if (joined) a.joined.add(node);
  else a.joined.delete(node);
}

// ----- digests -----

function broadcastKey(m: TableEventMsg): string {
  return `${m.table}\0${m.owner}\0${m.key}`;
}

function netKey(node: string, network: string): string {
  return `net\0${node}\0${network}`;
}

function change(kind: TableChangeKind, m: TableEventMsg): TableChange {
  return { kind, network: m.network, table: m.table, key: m.key, owner: m.owner, value: m.value, ltime: m.ltime };
}

function rehash(net: NetState, st: Stored): void {
  const o = net.owners.get(st.msg.owner);
  if (!o) return;
  hashEntry(st.msg);
  o.lo ^= scratchLo;
  o.hi ^= scratchHi;
  o.count++;
}

function unhash(net: NetState, st: Stored): void {
  const o = net.owners.get(st.msg.owner);
  if (!o) return;
  hashEntry(st.msg);
  o.lo ^= scratchLo;
  o.hi ^= scratchHi;
  o.count--;
}

let scratchLo = 0;
let scratchHi = 0;

/** Two 32-bit hashes of one attachment fact, into the scratch pair. */
function hashFact(node: string, ltime: number, joined: boolean): void {
  let a = 0x9747b28c;
  let b = 0x1b873593;
  const mix = (code: number): void => {
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x5bd1e995);
    b ^= b >>> 15;
  };
  for (let i = 0; i < node.length; i++) mix(node.charCodeAt(i));
  mix(0);
  mix(ltime % 0x100000000);
  mix(Math.floor(ltime / 0x100000000));
  mix(joined ? 3 : 4);
  a ^= a >>> 13;
  a = Math.imul(a, 0xc2b2ae35);
  a ^= a >>> 16;
  scratchLo = a | 0;
  scratchHi = b | 0;
}

const baseDigests = new WeakMap<SharedNames, AttachmentDigestWire>();

/** The digest of a snapshot network's base facts (computed once, shared by every node). */
function baseDigest(names: SharedNames): AttachmentDigestWire {
  let d = baseDigests.get(names);
  if (!d) {
    let lo = 0;
    let hi = 0;
    for (const n of names.names) {
      hashFact(n, BASE_FACT.ltime, true);
      lo ^= scratchLo;
      hi ^= scratchHi;
    }
    d = { count: names.names.length, hashLo: lo, hashHi: hi };
    baseDigests.set(names, d);
  }
  return d;
}

/** Two independent 32-bit FNV-1a style hashes of (table, key, ltime, deleted). */
function hashEntry(m: TableEventMsg): void {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  const mix = (code: number): void => {
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x5bd1e995);
    b ^= b >>> 15;
  };
  for (let i = 0; i < m.table.length; i++) mix(m.table.charCodeAt(i));
  mix(0);
  for (let i = 0; i < m.key.length; i++) mix(m.key.charCodeAt(i));
  mix(0);
  mix(m.ltime % 0x100000000);
  mix(Math.floor(m.ltime / 0x100000000));
  mix(m.deleted ? 1 : 2);
  a ^= a >>> 13;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 16;
  scratchLo = a | 0;
  scratchHi = b | 0;
}
