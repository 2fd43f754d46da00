/**
 * Gossip configuration: every knob of membership (SWIM + Lifeguard), dissemination,
 * state exchange and the replicated tables, with its unit and the trade-off of turning it
 * up or down; three profiles (LAN, WAN, local); one validator that reports every problem
 * at once and returns a frozen object; and the derived quantities (retransmit limit,
 * suspicion timeouts, scaled intervals) as pure functions so the state machines and the
 * docs use the same formulas.
 */
import { ShoalError } from '../common/errors.ts';

export interface GossipConfig {
  // ----- wire -----
  /** Largest datagram sent, bytes, envelope included. Larger packs more piggybacked
   *  messages per packet; above the path MTU (1500 on Ethernet, minus IP/UDP headers) the
   *  kernel fragments and one lost fragment loses the whole datagram. */
  readonly packetBytes: number;
  /** Largest stream frame accepted or sent, bytes. Bounds the memory one peer can make us
   *  allocate; a push-pull of N members needs about 60 x N bytes, a table sync more. */
  readonly maxFrameBytes: number;
  /** Largest table value, bytes. Values that do not fit a datagram travel over streams,
   *  which costs a TCP connection per gossip target. */
  readonly maxValueBytes: number;

  // ----- failure detection (SWIM + Lifeguard) -----
  /** Time between two probes started by this node, ms. Shorter detects failures sooner
   *  (every member is probed by someone about once per interval) at the cost of two
   *  datagrams per interval per node. */
  readonly probeIntervalMs: number;
  /** Wait for a direct ack before asking others to probe, ms. Must exceed the network's
   *  round trip by a wide margin; too short causes indirect probes (more traffic) and, on
   *  a slow node, false suspicions. Lifeguard multiplies it by the local health score. */
  readonly probeTimeoutMs: number;
  /** Members asked to probe a silent target indirectly. More rides out lossy links
   *  (fewer false suspicions) at the cost of 4 datagrams per helper per failed probe. */
  readonly indirectChecks: number;
  /** Lifeguard local health: the probe timeout and interval are scaled by (score + 1) with
   *  the score in [0, awarenessMaxMultiplier - 1]. Higher lets a starved node back off
   *  further before it accuses others; 1 disables the mechanism. */
  readonly awarenessMaxMultiplier: number;
  /** Minimum suspicion timeout = suspicionMult x max(1, log10(N)) x probeIntervalMs: the
   *  time a fully confirmed suspect has to refute. Larger means fewer false deaths under
   *  loss and slower detection. */
  readonly suspicionMult: number;
  /** Maximum suspicion timeout = this x the minimum: how long an unconfirmed (single
   *  accuser) suspicion lasts. Larger protects a healthy node from one sick accuser. */
  readonly suspicionMaxTimeoutMult: number;
  /** Independent confirmations after which the suspicion timeout reaches its minimum
   *  (Lifeguard's K). Higher demands more agreement before the timeout shrinks fully. */
  readonly suspicionConfirmations: number;

  // ----- dissemination -----
  /** Time between gossip rounds, ms. Shorter spreads news faster (convergence is about
   *  log4(N) rounds) at the cost of more packets; a round with nothing queued sends none. */
  readonly gossipIntervalMs: number;
  /** Members each round sends to (fanout). Higher converges in fewer rounds and costs
   *  proportionally more bandwidth. */
  readonly gossipNodes: number;
  /** Each broadcast is sent retransmitMult x ceil(log10(N + 1)) times in total (N = members,
   *  or members of the network for table events). Higher makes delivery to every member
   *  more certain under loss; lower saves bandwidth and leaves more to anti-entropy. */
  readonly retransmitMult: number;
  /** Broadcasts kept per queue; beyond it the most retransmitted are dropped (anti-entropy
   *  repairs what they would have carried). Bounds memory under churn. */
  readonly broadcastQueueMax: number;

  // ----- state exchange -----
  /** Full-membership push-pull with one random member every this x scale(N), ms, where
   *  scale(N) = 1 up to 32 members and ceil(log2(N) - 5) + 1 above. Shorter repairs lost
   *  gossip sooner; each exchange costs O(N) bytes over TCP. */
  readonly pushPullIntervalMs: number;
  /** After a join, push-pull with a random member at 1, 2, 4, ... times this, ms, until the
   *  regular interval is reached (0 disables). Members that joined early learn of those
   *  that joined after them (gossip reaches them only by chance: most nodes already know)
   *  in seconds instead of one regular interval; costs a few O(N) exchanges per join. */
  readonly joinPushPullBackoffMs: number;
  /** Deadline of one stream exchange (connect, request, reply), ms. Too short fails big
   *  exchanges on slow links; too long ties up a slot on a dead peer. */
  readonly streamTimeoutMs: number;
  /** Stream exchanges this node has in flight at once (push-pulls, table syncs, large
   *  deliveries); more are skipped and retried by their own timers. Bounds sockets and
   *  memory under churn; too low delays anti-entropy after a heal. */
  readonly maxConcurrentStreams: number;

  // ----- failed nodes -----
  /** The cluster makes about one reconnect attempt (a push-pull) per failed member per
   *  this interval, ms: every interval each node tries a random failed member with
   *  probability min(1, failed / live). Heals partitions; shorter heals sooner, costs
   *  connection attempts to members that really are gone. */
  readonly reconnectIntervalMs: number;
  /** Dead and left members are remembered (and reconnect is tried) this long, ms, then
   *  forgotten. Longer heals longer partitions and blocks stale alive rumours longer; each
   *  record costs about 100 bytes. */
  readonly deadRetainMs: number;
  /** If none of the join seeds is a live member, join them again every this, ms; 0
   *  disables. Rejoins a node that was cut off from everyone. */
  readonly rejoinIntervalMs: number;
  /** Graceful leave waits at most this long for the leave message to be gossiped, ms. */
  readonly leaveTimeoutMs: number;

  // ----- tables -----
  /** Anti-entropy per joined network with one random peer every this x scale(N) ms (N =
   *  members of the network). Digests first, then only differing entries. Shorter repairs
   *  missed gossip sooner at O(owners) bytes per exchange. */
  readonly tableSyncIntervalMs: number;
  /** Peers synced with on joining a network. More makes a joiner complete sooner with
   *  less dependence on one peer; each costs a digest exchange. */
  readonly joinSyncPeers: number;
  /** When a member comes back (partition healed, refuted death), sync each shared network
   *  with it at most once per this interval, ms. */
  readonly healSyncMinIntervalMs: number;
  /** Tombstones of deleted entries are kept this long, ms, so late or reordered updates
   *  cannot resurrect the entry. Must exceed the longest partition that should heal
   *  without stale entries; each tombstone costs about 100 bytes. */
  readonly tombstoneReapMs: number;
  /** How often expired tombstones and forgotten owners are reaped, ms. */
  readonly reapIntervalMs: number;
  /** A dead or departed node's entries stay visible this long, ms, then disappear from
   *  get/list/watch (kept hidden; they come back if the node returns). Longer rides out
   *  node flaps without DNS/backend churn; shorter removes the endpoints of a node that is
   *  really gone sooner. */
  readonly ownerGraceMs: number;
  /** Hidden entries of a node that stays gone are dropped after this, ms. */
  readonly ownerReclaimMs: number;
}

export type GossipConfigInput = Partial<GossipConfig>;

const KIB = 1024;
const MIB = 1024 * KIB;

/** The LAN profile: one data centre, sub-millisecond round trips. */
const LAN: GossipConfig = Object.freeze({
  packetBytes: 1400, // fits a 1500-byte MTU with IP/UDP headers and some tunnel overhead
  maxFrameBytes: 16 * MIB,
  maxValueBytes: 64 * KIB,
  probeIntervalMs: 500, // LAN round trips are < 1 ms; detection matters more than 4 datagrams/s
  probeTimeoutMs: 250,
  indirectChecks: 3,
  awarenessMaxMultiplier: 8,
  suspicionMult: 2, // 3 s at 1,000 members when confirmed, 18 s for a lone accuser
  suspicionMaxTimeoutMult: 6,
  suspicionConfirmations: 2,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  retransmitMult: 4,
  broadcastQueueMax: 8192,
  pushPullIntervalMs: 30_000,
  joinPushPullBackoffMs: 1_000,
  streamTimeoutMs: 10_000,
  maxConcurrentStreams: 128,
  reconnectIntervalMs: 2_000,
  deadRetainMs: 24 * 3600_000,
  rejoinIntervalMs: 60_000,
  leaveTimeoutMs: 3_000,
  tableSyncIntervalMs: 30_000,
  joinSyncPeers: 3,
  healSyncMinIntervalMs: 1_000,
  tombstoneReapMs: 30 * 60_000,
  reapIntervalMs: 5_000,
  ownerGraceMs: 15_000, // longer than a typical flap (moby#53141: 10-30 s disconnects)
  ownerReclaimMs: 30 * 60_000,
});

/** The WAN profile: regions apart, round trips of 100+ ms, more loss. */
const WAN: GossipConfig = Object.freeze({
  ...LAN,
  probeIntervalMs: 5_000,
  probeTimeoutMs: 3_000,
  suspicionMult: 6,
  suspicionConfirmations: 3,
  gossipIntervalMs: 500,
  gossipNodes: 4,
  pushPullIntervalMs: 60_000,
  joinPushPullBackoffMs: 5_000,
  streamTimeoutMs: 30_000,
  reconnectIntervalMs: 10_000,
  tableSyncIntervalMs: 60_000,
  healSyncMinIntervalMs: 5_000,
  ownerGraceMs: 60_000,
});

/** The local profile: one host (loopback, tests); everything quick. */
const LOCAL: GossipConfig = Object.freeze({
  ...LAN,
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  indirectChecks: 1,
  suspicionMult: 3,
  gossipIntervalMs: 100,
  pushPullIntervalMs: 15_000,
  joinPushPullBackoffMs: 500,
  streamTimeoutMs: 2_000,
  reconnectIntervalMs: 1_000,
  rejoinIntervalMs: 10_000,
  leaveTimeoutMs: 1_000,
  tableSyncIntervalMs: 10_000,
  healSyncMinIntervalMs: 500,
  tombstoneReapMs: 5 * 60_000,
  reapIntervalMs: 1_000,
  ownerGraceMs: 2_000,
  ownerReclaimMs: 5 * 60_000,
});

export function defaultLanConfig(): GossipConfig {
  return LAN;
}
export function defaultWanConfig(): GossipConfig {
  return WAN;
}
export function defaultLocalConfig(): GossipConfig {
  return LOCAL;
}

/** Every field name, for validation of unknown keys. */
const FIELDS = Object.keys(LAN) as Array<keyof GossipConfig>;

/** Lower bounds (inclusive) and upper bounds (inclusive) of each integer field. */
const BOUNDS: Record<keyof GossipConfig, readonly [number, number]> = {
  packetBytes: [512, 65_507],
  maxFrameBytes: [64 * KIB, 1024 * MIB],
  maxValueBytes: [1, 16 * MIB],
  probeIntervalMs: [10, 3600_000],
  probeTimeoutMs: [1, 3600_000],
  indirectChecks: [0, 16],
  awarenessMaxMultiplier: [1, 64],
  suspicionMult: [0.1, 100],
  suspicionMaxTimeoutMult: [1, 100],
  suspicionConfirmations: [0, 32],
  gossipIntervalMs: [1, 3600_000],
  gossipNodes: [1, 64],
  retransmitMult: [1, 64],
  broadcastQueueMax: [16, 10_000_000],
  pushPullIntervalMs: [100, 24 * 3600_000],
  joinPushPullBackoffMs: [0, 24 * 3600_000],
  streamTimeoutMs: [10, 3600_000],
  maxConcurrentStreams: [1, 65_536],
  reconnectIntervalMs: [10, 24 * 3600_000],
  deadRetainMs: [0, 30 * 24 * 3600_000],
  rejoinIntervalMs: [0, 24 * 3600_000],
  leaveTimeoutMs: [0, 3600_000],
  tableSyncIntervalMs: [100, 24 * 3600_000],
  joinSyncPeers: [1, 64],
  healSyncMinIntervalMs: [0, 3600_000],
  tombstoneReapMs: [1_000, 30 * 24 * 3600_000],
  reapIntervalMs: [10, 3600_000],
  ownerGraceMs: [0, 30 * 24 * 3600_000],
  ownerReclaimMs: [0, 30 * 24 * 3600_000],
};

/** Fields that may be fractional; every other field is an integer. */
const FRACTIONAL = new Set<keyof GossipConfig>(['suspicionMult']);

/**
 * Merges `input` over `base` (the LAN profile unless given), validates every field and the
 * relations between them, reports every problem in one ShoalError
 * (SHOAL_ERR_INVALID_CONFIG, details.problems), and returns a frozen config.
 */
export function validateGossipConfig(input: GossipConfigInput = {}, base: GossipConfig = LAN): GossipConfig {
  const problems: string[] = [];
  for (const key of Object.keys(input)) {
    if (!(FIELDS as string[]).includes(key)) problems.push(`unknown field ${key}`);
  }
  const merged = {} as Record<keyof GossipConfig, number>;
  for (const field of FIELDS) {
    const value = (input as Record<string, unknown>)[field] ?? base[field];
    const [lo, hi] = BOUNDS[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`${field} must be a finite number`);
      merged[field] = base[field];
      continue;
    }
    if (!FRACTIONAL.has(field) && !Number.isInteger(value)) problems.push(`${field} must be an integer (got ${value})`);
    if (value < lo || value > hi) problems.push(`${field} ${value} is out of range ${lo}-${hi}`);
    merged[field] = value;
  }
  const c = merged as unknown as GossipConfig;
  if (c.probeTimeoutMs >= c.probeIntervalMs)
    problems.push(`probeTimeoutMs (${c.probeTimeoutMs}) must be less than probeIntervalMs (${c.probeIntervalMs})`);
  if (c.maxValueBytes + 4 * KIB > c.maxFrameBytes)
    problems.push(`maxValueBytes (${c.maxValueBytes}) must leave 4 KiB of room in maxFrameBytes (${c.maxFrameBytes})`);
  if (c.ownerReclaimMs < c.ownerGraceMs)
    problems.push(`ownerReclaimMs (${c.ownerReclaimMs}) must be at least ownerGraceMs (${c.ownerGraceMs})`);
  if (problems.length > 0) {
    throw new ShoalError('SHOAL_ERR_INVALID_CONFIG', `invalid gossip configuration: ${problems.join('; ')}`, { details: { problems } });
  }
  return Object.freeze({ ...c });
}

// ---------------------------------------------------------------------------------------
// Derived quantities (pure; used by the state machines, the README and the tests)

/** Total sends of one broadcast among n members: mult x ceil(log10(n + 1)), at least 1. */
export function retransmitLimit(mult: number, n: number): number {
  return Math.max(1, mult * Math.ceil(Math.log10(Math.max(1, n) + 1)));
}

/** Scale of periodic full exchanges: 1 up to 32 members, then ceil(log2(n) - 5) + 1. */
export function intervalScale(n: number): number {
  if (n <= 32) return 1;
  return Math.ceil(Math.log2(n) - 5) + 1;
}

/** Minimum suspicion timeout for n members, ms. */
export function suspicionMinMs(config: GossipConfig, n: number): number {
  return config.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * config.probeIntervalMs;
}

/** Maximum (unconfirmed) suspicion timeout for n members, ms. */
export function suspicionMaxMs(config: GossipConfig, n: number): number {
  return config.suspicionMaxTimeoutMult * suspicionMinMs(config, n);
}
