/**
 * The agent: the composition root of one node's data plane.
 *
 *   session   the manager's assignment stream (tasks, networks, endpoints, peers, keys);
 *             reports task states; relays exec, logs and doctor requests
 *   gossip    SWIM membership with the other agents, and the per-network endpoint tables
 *   endpoints the manager's endpoint stream per network (the truth for which exist)
 *   workloads tasks and containers as processes in sandboxes (src/agent/tasks)
 *   overlay   namespaces, bridges, VXLAN, veths, neighbour and fdb entries (src/overlay)
 *   lb        nftables load balancers per sandbox, the ingress sandbox, the host's mesh (src/vip)
 *   resolver  the embedded DNS resolver at 127.0.0.11 in every sandbox (src/dns)
 *
 * Inputs update the model and trigger a SyncRunner; each runner's sync plans from the
 * whole model and applies the difference to the kernel. The agent programs the network
 * namespace it runs in, and every object it creates carries its prefix.
 *
 * Start-up keeps what is right: processes that outlived the previous agent are adopted, and
 * the first overlay sync waits until the manager's assignment and endpoint snapshots (and a
 * first gossip join) are in, so it computes the same desired state as before the restart
 * and removes only leftovers that differ from it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type {
  AgentRequest,
  AgentResponseBody,
  DoctorDifference,
  DoctorFailure,
  DoctorReport,
  Endpoint,
  GossipKeyring,
  Peer,
} from '../api/api-types.ts';
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import { ShoalError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/fs.ts';
import type { Logger } from '../common/logger.ts';
import { SyncRunner, type SyncStats } from '../common/sync-runner.ts';
import {
  createGossipNode,
  createKeyring,
  defaultLanConfig,
  type GossipDrops,
  type GossipNode,
  type Keyring,
  NetTransport,
} from '../gossip/index.ts';
import { createConntrack } from '../kernel/conntrack.ts';
import { createNft } from '../kernel/nft.ts';
import { openRtnl } from '../kernel/rtnl.ts';
import { createSysctl } from '../kernel/sysctl.ts';
import { OverlaySyncer, realOverlayKernel } from '../overlay/apply.ts';
import type { OverlayModel, RemoteEndpoint } from '../overlay/model.ts';
import { egressBridgeName, sandboxIfname, sandboxNetnsName } from '../overlay/names.ts';
import { buildOverlayModel, EGRESS_SUBNET, interfaceKeys, needsEgress, type SandboxOwner } from './dataplane-model.ts';
import { EgressAddresses } from './egress-addresses.ts';
import { remoteEndpoints, type ViewStats } from './endpoint-view.ts';
import { endpointRecord, GossipEndpoints } from './gossip-endpoints.ts';
import { RemoteLinger } from './remote-linger.ts';
import { encodeGossipResume, type GossipResume, loadGossipResume, saveGossipResume } from './gossip-resume.ts';
import { dnsInputs } from './dns-inputs.ts';
import { lbInputs, type LbInputs } from './lb-inputs.ts';
import { AgentResolver, type ResolverSandboxSpec, type ResolverStats } from './resolvers.ts';
import { INGRESS_SANDBOX_ID, type LocalWorkload, meshTableName } from './lb-model.ts';
import { type LbFailure, LoadBalancers } from './load-balancers.ts';
import type { AgentIdentity } from './join.ts';
import { type AssignmentState, AgentSession } from './session-client.ts';
import { TaskRuntime } from './tasks/runtime.ts';
import { Workloads } from './workloads.ts';
import { sandboxFiles } from './sandbox-files.ts';
import { SandboxIfnames } from './sandbox-ifnames.ts';
import { inboundConnections } from './connections.ts';
import { type NodeInfo, nodeInfo } from './node-info.ts';
import { ListenReadiness } from './readiness.ts';
import { doctorReport, overlayDifferences, repairReport, resolverDifferences, syncFailures, workloadDifferences } from './doctor.ts';
import { identify } from './tasks/proc.ts';
import type { AgentErrorCode } from './errors.ts';

export const DEFAULT_GOSSIP_PORT = 7946;
export const DEFAULT_PREFIX = 'shoal-';
/** Longest the load balancers wait for gossip's first sync of a network (maybeStartLb). */
const LB_GOSSIP_WAIT_MS = 10_000;

/** The two parts of a node's load balancers, each synced by a runner of its own. */
type LbPart = 'mesh' | 'sandboxes';
const LB_GATE_POLL_MS = 50;

export interface AgentOptions {
  identity: AgentIdentity;
  dataDir: string;
  advertiseAddr: string;
  managerAddr?: string;
  hostname?: string;
  /** Prefix of every namespace, link and table the agent creates. */
  prefix: string;
  gossipPort: number;
  logger: Logger;
  clock?: Clock;
  /** Longest wait for the manager's endpoint snapshots before the first overlay sync, ms. */
  startupWaitMs?: number;
  /** TTL of the resolver's own answers, s (default 5: src/dns/README.md says why). */
  dnsTtlSec?: number;
}

export interface AgentStatus {
  nodeId: string;
  prefix: string;
  advertiseAddr: string;
  connected: boolean;
  workloads: Array<{ id: string; name: string; kind: string; phase: string; pid: number; health: string }>;
  gossip: {
    members: Array<{ name: string; addr: string; state: string }>;
    dead: string[];
    /** Received gossip dropped, by reason (GossipDrops); absent before gossip started. */
    drops?: GossipDrops;
  };
  overlay: { syncs: number; failures: number; lastDurationMs: number; lastError: string };
  lb: { syncs: number; failures: number; lastDurationMs: number; lastError: string; tables: number };
  dns: ResolverStats;
  view: ViewStats;
  /** Remote endpoints programmed per network. */
  remotes: Record<string, number>;
}

export class Agent {
  private readonly o: AgentOptions;
  private readonly clock: Clock;
  /** Remote endpoints that left, kept in the overlay a moment longer (remote-linger.ts). */
  private readonly remoteLinger = new RemoteLinger();
  private lingerExpiry: number | undefined;
  private readonly logger: Logger;
  readonly session: AgentSession;
  private readonly runtime: TaskRuntime;
  readonly workloads: Workloads;
  private readonly overlay: OverlaySyncer;
  readonly overlayRunner: SyncRunner;
  private readonly lb: LoadBalancers;
  /** The routing mesh's load balancers (the ingress sandbox's and the host's tables). */
  readonly lbRunner: SyncRunner;
  /** The task sandboxes' east-west VIP tables: a runner apart, so the mesh never waits behind them. */
  readonly vipRunner: SyncRunner;
  /** What each load-balancer part last applied without a failure: the endpoints it left out as draining, and balances to. */
  private readonly lbApplied: Record<LbPart, { draining: ReadonlySet<string>; joined: ReadonlySet<string> } | undefined> = {
    mesh: undefined,
    sandboxes: undefined,
  };
  private readonly resolver: AgentResolver;
  /** Sandboxes the last successful overlay sync built (their namespaces exist). */
  private applied = new Set<string>();
  private readonly lbTables: Record<LbPart, number> = { mesh: 0, sandboxes: 0 };
  private readonly readiness: ListenReadiness;
  private readonly egress: EgressAddresses;
  private readonly ifnames: SandboxIfnames;
  private state: AssignmentState | undefined;
  private gossip: GossipNode | undefined;
  private keyring: Keyring | undefined;
  private keyringVersion = -1;
  private gossipEndpoints: GossipEndpoints | undefined;
  private endpointWatch: { update(ids: string[]): void; close(): void } | undefined;
  private readonly managerLists = new Map<string, Map<string, Endpoint>>();
  private watched = new Set<string>();
  private underlayMtu = 1500;
  private overlayStarted = false;
  /** Whether an overlay sync has succeeded since this agent started. */
  private overlayApplied = false;
  /** `NETWORK IP` of the remote endpoints the last successful overlay sync programmed. */
  private programmedRemotes = new Set<string>();
  private resumed: GossipResume = { keyring: undefined, peers: [] };
  private resumedKey = '';
  private lbStarted = false;
  private lbGate: { cancel(): void } | undefined;
  private lbGateDeadline = 0;
  private startupTimer: { cancel(): void } | undefined;
  private joinedPeers = '';
  private lastModel: OverlayModel | undefined;
  /** The model the last overlay sync without failures applied. */
  private appliedModel: OverlayModel | undefined;
  private lastStats: ViewStats = { managerOnly: 0, gossipOnly: 0, conflicting: 0, deadNode: 0, markedDown: 0 };
  private lastRemoteCounts: Record<string, number> = {};
  private connected = false;
  private stopping = false;
  /** Called when the manager refuses this node for good (removed from the cluster). */
  onFatal: ((err: Error) => void) | undefined;

  constructor(options: AgentOptions) {
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    this.egress = new EgressAddresses(join(options.dataDir, 'egress.json'), EGRESS_SUBNET);
    this.ifnames = new SandboxIfnames(join(options.dataDir, 'ifnames.json'));
    this.runtime = new TaskRuntime({
      dir: join(options.dataDir, 'tasks'),
      logger: this.logger.child({ part: 'tasks' }),
      clock: this.clock,
      onEvent: (e) => this.workloads.onRuntimeEvent(e),
    });
    this.overlay = new OverlaySyncer(realOverlayKernel(''), { prefix: options.prefix, logger: this.logger.child({ part: 'overlay' }) });
    this.overlayRunner = new SyncRunner((ctx) => this.syncOverlay(ctx.full), {
      name: 'overlay',
      minIntervalMs: 10,
      fullResyncIntervalMs: 60_000,
      clock: this.clock,
      logger: this.logger,
    });
    this.lb = new LoadBalancers({
      prefix: options.prefix,
      logger: this.logger.child({ part: 'lb' }),
      nft: (ns) => createNft(ns),
      conntrack: (ns) => createConntrack(ns),
      sysctl: (ns) => createSysctl(ns),
    });
    this.resolver = new AgentResolver({
      prefix: options.prefix,
      logger: this.logger.child({ part: 'dns' }),
      clock: this.clock,
      nft: (ns) => createNft(ns),
      records: () => this.recordInputs(),
      ...(options.dnsTtlSec !== undefined ? { ttlSec: options.dnsTtlSec } : {}),
    });
    this.readiness = new ListenReadiness({
      clock: this.clock,
      logger: this.logger.child({ part: 'readiness' }),
      onReady: () => {
        this.publish();
        this.viewChanged();
      },
    });
    this.lbRunner = new SyncRunner((ctx) => this.syncLb('mesh', ctx.full), {
      name: 'lb',
      minIntervalMs: 10,
      fullResyncIntervalMs: 60_000,
      clock: this.clock,
      logger: this.logger,
    });
    this.vipRunner = new SyncRunner((ctx) => this.syncLb('sandboxes', ctx.full), {
      name: 'vip',
      minIntervalMs: 10,
      fullResyncIntervalMs: 60_000,
      clock: this.clock,
      logger: this.logger,
    });
    this.session = new AgentSession({
      identity: options.identity,
      ...(options.managerAddr ? { managerAddr: options.managerAddr } : {}),
      advertiseAddr: options.advertiseAddr,
      gossipPort: options.gossipPort,
      dataDir: options.dataDir,
      ...(options.hostname ? { hostname: options.hostname } : {}),
      logger: this.logger.child({ part: 'session' }),
      onState: (s) => this.onAssignment(s),
      onConnection: (up: boolean) => {
        this.connected = up;
      },
      onRequest: (req) => this.onRequest(req),
      onFatal: (err) => {
        this.logger.error({ err }, 'the manager refused this node; stopping');
        this.onFatal?.(err);
      },
    });
    this.workloads = new Workloads({
      runtime: this.runtime,
      reporter: this.session,
      sandboxNetns: (id) => this.sandboxNetns(id),
      files: (f) => sandboxFiles(f),
      onSandboxesChanged: () => this.overlayRunner.trigger(),
      onWorkloadChanged: () => {
        this.publish();
        this.viewChanged();
      },
      openConnections: (w) => inboundConnections(w.pid),
      letGoHere: (w) => this.letGoHere(w.id),
      clock: this.clock,
      logger: this.logger.child({ part: 'workloads' }),
    });
  }

  sandboxNetns(id: string): string {
    return sandboxNetnsName(this.o.prefix, id);
  }

  get nodeId(): string {
    return this.o.identity.nodeId;
  }

  async start(): Promise<void> {
    this.underlayMtu = await readUnderlayMtu(this.o.advertiseAddr, this.logger);
    writeFileAtomic(
      join(this.o.dataDir, 'agent.json'),
      `${JSON.stringify({ advertiseAddr: this.o.advertiseAddr, prefix: this.o.prefix, gossipPort: this.o.gossipPort }, null, 2)}\n`,
    );
    // back in gossip first: the rest of the start-up may outlast its failure detection
    this.resumed = loadGossipResume(this.resumePath) ?? { keyring: undefined, peers: [] };
    this.resumedKey = resumeKey(this.resumed);
    this.ensureGossip(this.resumed.keyring);
    const adopted = await this.workloads.adopt();
    for (const id of adopted) this.readiness.markReady(id); // they were serving
    if (adopted.length > 0) this.logger.info({ adopted }, 'adopted the tasks still running from an earlier run');
    this.workloads.runner.start();
    this.session.start();
  }

  // ------------------------------------------------------------------ inputs

  private onAssignment(s: AssignmentState): void {
    const first = this.state === undefined;
    this.state = s;
    this.ensureGossip(s.keyring);
    this.saveGossipResume(s);
    this.workloads.setAssignment(s);
    this.updateEndpointWatch();
    this.publish();
    if (first) this.startupTimer = this.clock.setTimer(this.o.startupWaitMs ?? 5000, () => this.startOverlay('deadline'));
    this.maybeStartOverlay();
    this.overlayRunner.trigger();
    this.resolver.invalidate();
  }

  /**
   * Which endpoints serve changed (gossip, the manager's lists, a local workload): the load
   * balancers and the resolver follow at once, without waiting for an overlay sync.
   */
  private viewChanged(): void {
    this.lbRunner.trigger();
    this.vipRunner.trigger();
    this.resolver.invalidate();
  }

  private ensureGossip(ring: GossipKeyring | undefined): void {
    if (!ring || ring.keys.length === 0) return;
    if (!this.gossip) {
      const primary = Math.max(
        0,
        ring.keys.findIndex((k) => k.primary),
      );
      this.keyring = createKeyring(
        ring.keys.map((k) => Uint8Array.from(k.key)),
        primary,
      );
      this.keyringVersion = ring.version;
      const transport = new NetTransport({ bind: { host: this.o.advertiseAddr, port: this.o.gossipPort } });
      this.gossip = createGossipNode({
        name: this.nodeId,
        config: defaultLanConfig(),
        clock: this.clock,
        logger: this.logger.child({ part: 'gossip' }),
        transport,
        keyring: this.keyring,
      });
      const node = this.gossip;
      node.start().then(
        () => {
          if (this.stopping) return;
          // tables exist once the node runs: only then join networks and publish
          // A gossip change goes to the load balancers at once, not after an overlay sync: a
          // new remote backend's overlay entries came with the manager's endpoint list (at
          // allocation, before its task ran), and lb-inputs leaves out any that did not.
          const onGossip = (): void => {
            this.overlayRunner.trigger();
            this.viewChanged();
          };
          this.gossipEndpoints = new GossipEndpoints(node, onGossip, this.logger.child({ part: 'gossip' }), (addr) =>
            this.session.managerHostBack(addr),
          );
          this.gossipEndpoints.setNetworks(this.watched);
          this.publish();
          this.joinPeers();
          this.maybeStartOverlay();
          this.overlayRunner.trigger();
        },
        (err: unknown) => this.logger.error({ err }, 'gossip cannot start'),
      );
    } else if (ring.version !== this.keyringVersion && this.keyring) {
      this.keyringVersion = ring.version;
      for (const k of ring.keys) this.keyring.install(Uint8Array.from(k.key));
      const primary = ring.keys.find((k) => k.primary);
      if (primary) this.keyring.use(Uint8Array.from(primary.key));
      const keep = new Set(ring.keys.map((k) => Buffer.from(k.key).toString('hex')));
      for (const k of this.keyring.list()) if (!keep.has(Buffer.from(k).toString('hex'))) this.keyring.remove(k);
    }
    this.joinPeers();
  }

  private get resumePath(): string {
    return join(this.o.dataDir, 'gossip.json');
  }

  /** Keeps the keyring and peers of the assignment for the next start (gossip-resume.ts). */
  private saveGossipResume(s: AssignmentState): void {
    const r: GossipResume = { keyring: s.keyring, peers: [...s.peers.values()] };
    const key = resumeKey(r);
    if (key === this.resumedKey) return;
    try {
      saveGossipResume(this.resumePath, r);
      this.resumedKey = key;
    } catch (err) {
      this.logger.warn({ err, path: this.resumePath }, 'cannot keep the gossip keyring and peers for the next start');
    }
  }

  /** Joins the peers the manager lists (or, before its first assignment, the last ones it listed) that gossip does not know alive yet. */
  private joinPeers(): void {
    const g = this.gossip;
    if (!g || g.status !== 'running') return;
    const alive = new Set(
      g
        .members()
        .filter((m) => m.state === 'alive' || m.state === 'suspect')
        .map((m) => m.name),
    );
    const peers = this.state ? [...this.state.peers.values()] : this.resumed.peers;
    const seeds = peers.filter((p) => !alive.has(p.nodeId)).map((p) => peerGossipAddr(p, this.o.gossipPort));
    const key = seeds.sort().join(',');
    if (seeds.length === 0 || key === this.joinedPeers) return;
    this.joinedPeers = key;
    g.join(seeds).then(
      (n) => {
        this.logger.info({ seeds, joined: n }, 'gossip joined');
        this.maybeStartOverlay();
      },
      (err: unknown) => {
        this.joinedPeers = '';
        this.logger.warn({ err, seeds }, 'gossip join failed; retrying on the next assignment');
      },
    );
  }

  private updateEndpointWatch(): void {
    const ids = new Set(this.modelNetworkIds());
    const key = (s: Set<string>): string => [...s].sort().join(',');
    if (key(ids) === key(this.watched)) return;
    this.watched = ids;
    for (const id of [...this.managerLists.keys()]) if (!ids.has(id)) this.managerLists.delete(id);
    this.gossipEndpoints?.setNetworks(ids);
    if (!this.endpointWatch) {
      this.endpointWatch = this.session.watchEndpoints([...ids], (e) => {
        if (e.snapshot) this.managerLists.set(e.networkId, new Map(e.upserts.map((x) => [x.id, x])));
        else {
          const m = this.managerLists.get(e.networkId) ?? new Map<string, Endpoint>();
          for (const x of e.upserts) m.set(x.id, x);
          for (const id of e.removals) m.delete(id);
          this.managerLists.set(e.networkId, m);
        }
        this.maybeStartOverlay();
        this.overlayRunner.trigger();
        this.viewChanged(); // draining endpoints leave the load balancers without waiting for the overlay
      });
    } else {
      this.endpointWatch.update([...ids]);
    }
  }

  /** Networks whose namespace this node needs: those of its sandboxes, and ingress. */
  private modelNetworkIds(): string[] {
    const s = this.state;
    if (!s) return [];
    const ids = new Set<string>();
    for (const n of s.networks.values()) if (n.spec.ingress || n.ingress) ids.add(n.id);
    for (const o of this.workloads.sandboxes()) for (const a of o.networks) if (s.networks.has(a.networkId)) ids.add(a.networkId);
    for (const t of s.tasks.values()) if (t.desiredState === 'running') for (const a of t.networks) ids.add(a.networkId);
    for (const c of s.containers.values()) for (const a of c.networks) ids.add(a.networkId);
    return [...ids];
  }

  private maybeStartOverlay(): void {
    if (this.overlayStarted || !this.state) return;
    const haveLists = [...this.watched].every((id) => this.managerLists.has(id));
    const gossipReady = !this.gossip || this.gossipEndpoints !== undefined;
    if (haveLists && gossipReady) this.startOverlay('ready');
  }

  private startOverlay(why: string): void {
    if (this.overlayStarted || this.stopping) return;
    this.overlayStarted = true;
    this.startupTimer?.cancel();
    this.logger.info({ why }, 'overlay programming starts');
    this.overlayRunner.start();
    this.lbGateDeadline = this.clock.now() + LB_GOSSIP_WAIT_MS;
    this.maybeStartLb();
  }

  /**
   * The load balancers start once gossip has synced every network on which the manager
   * lists another node's task (or after LB_GOSSIP_WAIT_MS). A remote task is a backend only
   * while its agent's gossip says it runs and passes its checks, and an agent that just
   * started (a restart, an upgrade) knows none of that until its first table sync: a
   * load-balancer sync before it would take every remote backend out of tables the
   * previous agent left serving.
   */
  private maybeStartLb(): void {
    // after the first overlay sync: before it no sandbox counts as in place, and a model
    // without them would empty the tables the previous agent left serving
    if (this.lbStarted || this.stopping || !this.overlayStarted || !this.overlayApplied) return;
    const waiting = this.unsyncedNetworks();
    const late = this.clock.now() >= this.lbGateDeadline;
    if (waiting.length === 0 || late) {
      this.lbStarted = true;
      this.lbGate?.cancel();
      this.lbGate = undefined;
      if (late)
        this.logger.warn(
          { networks: waiting, waitedMs: LB_GOSSIP_WAIT_MS },
          'gossip has not synced these networks; load balancers start without',
        );
      this.lbRunner.start();
      this.vipRunner.start();
      return;
    }
    // a completed sync that brought nothing new raises no event: look again shortly
    this.lbGate ??= this.clock.setTimer(LB_GATE_POLL_MS, () => {
      this.lbGate = undefined;
      this.maybeStartLb();
    });
  }

  /** Watched networks on which the manager lists a live task of another node and gossip has not synced. */
  private unsyncedNetworks(): string[] {
    const g = this.gossipEndpoints;
    if (!this.gossip) return []; // no gossip configured: the manager is the only source
    const out: string[] = [];
    for (const id of this.watched) {
      const remote = [...(this.managerLists.get(id)?.values() ?? [])].some(
        (e) => e.kind === 'task' && e.nodeId !== '' && e.nodeId !== this.nodeId && e.state !== 'down',
      );
      if (remote && !g?.synced(id)) out.push(id);
    }
    return out;
  }

  /** Publishes this node's running endpoints into gossip. */
  private publish(): void {
    const ge = this.gossipEndpoints;
    const s = this.state;
    if (!ge || !s) return;
    const records = [];
    for (const e of s.endpoints.values()) {
      if (e.nodeId !== this.nodeId || e.mac === '') continue;
      const w = this.workloads.get(e.ownerId);
      if (!w || w.phase !== 'running' || !this.listening(w.id, w.pid)) continue;
      const t = s.tasks.get(e.ownerId);
      const draining = w.draining === true || e.state === 'draining' || (t !== undefined && t.desiredState !== 'running');
      records.push(endpointRecord(e, this.o.advertiseAddr, w.health, draining));
    }
    ge.publish(records);
  }

  // ------------------------------------------------------------------ overlay

  /** The model of the current inputs. */
  model(): OverlayModel | undefined {
    const s = this.state;
    if (!s) return undefined;
    const owners = [...this.workloads.sandboxes()];
    const isb = this.ingressSandboxOwner();
    if (isb) owners.push(isb);
    const egress = new Map<string, string>();
    for (const o of owners) if (needsEgress(o, s.networks)) egress.set(o.id, this.egress.get(o.id));
    this.egress.retain(new Set(owners.map((o) => o.id)));
    const ifnames = new Map<string, ReadonlyMap<string, string>>();
    for (const o of owners) ifnames.set(o.id, this.ifnames.assign(o.id, interfaceKeys(o, s.networks, egress.has(o.id))));
    this.ifnames.retain(new Set(owners.map((o) => o.id)));
    this.readiness.retain(new Set(this.workloads.list().map((w) => w.id)));
    const remotes = new Map<string, RemoteEndpoint[]>();
    const stats: ViewStats = { managerOnly: 0, gossipOnly: 0, conflicting: 0, deadNode: 0, markedDown: 0 };
    const ids = this.modelNetworkIds();
    this.updateEndpointWatch();
    for (const id of ids) {
      const v = remoteEndpoints({
        networkId: id,
        selfNodeId: this.nodeId,
        manager: this.managerLists.get(id),
        gossip: this.gossipEndpoints?.view(id) ?? new Map(),
        deadNodes: this.gossipEndpoints?.dead ?? new Set(),
        peers: s.peers,
      });
      remotes.set(id, v.remotes);
      for (const k of Object.keys(stats) as Array<keyof ViewStats>) stats[k] += v.stats[k];
    }
    this.noteDisagreements(stats);
    this.lastRemoteCounts = Object.fromEntries([...remotes].map(([k, v]) => [k, v.length]));
    const lingering = this.remoteLinger.apply(remotes, this.clock.now());
    if (lingering.nextExpiry !== undefined && lingering.nextExpiry !== this.lingerExpiry) {
      this.lingerExpiry = lingering.nextExpiry;
      this.clock.setTimer(lingering.nextExpiry - this.clock.now(), () => this.overlayRunner.trigger());
    }
    return buildOverlayModel({
      controlPorts: controlPorts(this.o.gossipPort, this.o.managerAddr),
      prefix: this.o.prefix,
      vtep: this.o.advertiseAddr,
      underlayMtu: this.underlayMtu,
      networks: s.networks,
      sandboxes: owners,
      egress,
      remotes: lingering.remotes,
      ifnames,
    });
  }

  /**
   * When both remote endpoints and local sandboxes changed, the remote part goes first, as
   * its own incremental sync of the overlay namespaces alone (the local sandboxes as last
   * applied), and the load balancers hear of it at once: a new backend on another node is
   * not held back while this node creates and deletes its own sandboxes, which can take
   * the kernel several hundred milliseconds while deleted namespaces are torn down.
   * Remotes of networks that have no namespace here yet wait for the whole sync.
   */
  private async syncRemotesFirst(model: OverlayModel): Promise<void> {
    const last = this.appliedModel;
    if (!last) return;
    if (JSON.stringify(model.sandboxes) === JSON.stringify(last.sandboxes)) return;
    const here = new Set(last.networks.map((n) => n.id));
    const remotes = model.remotes.filter((r) => here.has(r.networkId));
    if (JSON.stringify(remotes) === JSON.stringify(last.remotes)) return;
    const quick: OverlayModel = { ...last, remotes };
    const report = await this.overlay.sync(quick, false);
    if (report.failures.length > 0) return; // the whole sync that follows repairs it, or reports it
    this.appliedModel = quick;
    this.programmedRemotes = new Set(remotes.map((r) => `${r.networkId} ${r.ip}`));
    this.viewChanged();
  }

  private noteDisagreements(stats: ViewStats): void {
    const prev = this.lastStats;
    this.lastStats = stats;
    const changed = (Object.keys(stats) as Array<keyof ViewStats>).some((k) => stats[k] !== prev[k]);
    if (changed && (stats.managerOnly || stats.gossipOnly || stats.conflicting || stats.deadNode || stats.markedDown)) {
      this.logger.info({ ...stats }, 'endpoint sources disagree');
    }
  }

  private async syncOverlay(full: boolean): Promise<void> {
    const model = this.model();
    if (!model) return;
    this.lastModel = model;
    if (!full) await this.syncRemotesFirst(model);
    const report = await this.overlay.sync(model, full);
    if (report.failures.length > 0) {
      throw new ShoalError('SHOAL_ERR_SYNC_FAILED', `overlay sync: ${report.failures.length} change(s) not applied`, {
        details: { failures: report.failures },
      });
    }
    this.appliedModel = model;
    this.applied = new Set(model.sandboxes.map((s) => s.id));
    this.programmedRemotes = new Set(model.remotes.map((r) => `${r.networkId} ${r.ip}`));
    this.overlayApplied = true;
    // the resolver serves a sandbox before its processes start
    const dnsFailures = await this.resolver.sync(this.resolverSandboxes(), full);
    this.workloads.overlayApplied(this.applied);
    this.viewChanged();
    this.maybeStartLb();
    if (dnsFailures.length > 0) {
      throw new ShoalError('SHOAL_ERR_SYNC_FAILED', `resolver sync: ${dnsFailures.length} sandbox(es) not served`, {
        details: { failures: dnsFailures },
      });
    }
  }

  // ------------------------------------------------------------------ resolver

  /** The sandboxes the resolver serves: every local task's and container's the overlay put in place. */
  private resolverSandboxes(): ResolverSandboxSpec[] {
    const s = this.state;
    if (!s) return [];
    const out: ResolverSandboxSpec[] = [];
    for (const o of this.workloads.sandboxes()) {
      if (!this.applied.has(o.id)) continue;
      const nets = o.networks.map((a) => s.networks.get(a.networkId)).filter((n) => n !== undefined);
      const task = s.tasks.get(o.id);
      const dns = task ? task.spec.dns : (s.containers.get(o.id)?.spec.dns ?? []);
      out.push({
        id: o.id,
        netns: this.sandboxNetns(o.id),
        networkIds: nets.map((n) => n.id),
        dns: dns ?? [],
        internal: nets.length > 0 && nets.every((n) => n.spec.internal),
      });
    }
    return out;
  }

  /** The resolver's records from the current view (dns-inputs.ts). */
  private recordInputs(): ReturnType<typeof dnsInputs> {
    const s = this.state;
    if (!s) return { networks: [], services: [], tasks: [], containers: [] };
    return dnsInputs({
      nodeId: this.nodeId,
      networks: s.networks,
      services: s.services,
      managerLists: this.managerLists,
      gossip: (id) => this.gossipEndpoints?.view(id) ?? new Map(),
      gossipSynced: (id) => !this.gossip || this.gossipEndpoints?.synced(id) === true,
      deadNodes: this.gossipEndpoints?.dead ?? new Set<string>(),
      local: (ownerId) => this.localBackend(ownerId),
      reachable: (networkId, ip) => this.programmedRemotes.has(`${networkId} ${ip}`),
    });
  }

  /** The ingress sandbox's interface on the ingress network, as the last overlay model named it. */
  private lastIngressIfname(): string {
    const sb = this.lastModel?.sandboxes.find((x) => x.id === INGRESS_SANDBOX_ID);
    return sb?.attachments[0]?.ifname ?? sandboxIfname(0);
  }

  /**
   * Whether a task listens on every TCP target port its service publishes (readiness.ts):
   * until then it is not published into gossip nor balanced to here.
   */
  private listening(id: string, pid: number): boolean {
    const t = this.state?.tasks.get(id);
    const svc = t ? this.state?.services.get(t.serviceId) : undefined;
    const ports = new Set<number>();
    for (const p of svc?.endpoint.ports ?? []) if (p.protocol === 'tcp' && p.publishedPort !== undefined) ports.add(p.targetPort);
    return this.readiness.isReady(
      id,
      pid,
      [...ports].sort((a, b) => a - b),
    );
  }

  /** The ingress network of the assignment, if any. */
  private ingressNetworkId(): string | undefined {
    for (const n of this.state?.networks.values() ?? []) if (n.spec.ingress || n.ingress) return n.id;
    return undefined;
  }

  /** This node's ingress sandbox, from its node-ingress endpoint (the manager allocates it at join). */
  private ingressSandboxOwner(): SandboxOwner | undefined {
    const s = this.state;
    const ingressId = this.ingressNetworkId();
    if (!s || !ingressId) return undefined;
    for (const e of s.endpoints.values()) {
      if (e.kind === 'node-ingress' && e.nodeId === this.nodeId && e.networkId === ingressId && e.addr !== '' && e.mac !== '') {
        return { id: INGRESS_SANDBOX_ID, networks: [{ networkId: ingressId, addresses: [e.addr], mac: e.mac }] };
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------------ load balancers

  /** The load balancers' models and where they go, from the current inputs. */
  private lbInputs(): LbInputs | undefined {
    const s = this.state;
    if (!s) return undefined;
    return lbInputs({
      prefix: this.o.prefix,
      nodeId: this.nodeId,
      state: s,
      managerLists: this.managerLists,
      gossip: (id) => this.gossipEndpoints?.view(id) ?? new Map(),
      deadNodes: this.gossipEndpoints?.dead ?? new Set<string>(),
      local: (ownerId) => this.localBackend(ownerId),
      sandboxes: this.workloads.sandboxes(),
      applied: this.applied,
      egressAddress: (id) => this.egress.peek(id),
      running: (id) => this.workloads.get(id)?.phase === 'running',
      ingressNetworkId: this.ingressNetworkId(),
      ingressIfname: this.lastIngressIfname(),
      sandboxNetns: (id) => this.sandboxNetns(id),
      bridge: egressBridgeName(this.o.prefix),
      reachable: (networkId, ip) => this.programmedRemotes.has(`${networkId} ${ip}`),
    });
  }

  /** A local task or container as load balancers and the resolver see it. */
  private localBackend(ownerId: string): LocalWorkload | undefined {
    const w = this.workloads.get(ownerId);
    if (!w) return undefined;
    const t = this.state?.tasks.get(ownerId);
    return {
      running: w.phase === 'running' && this.listening(w.id, w.pid),
      health: w.health,
      stopping: w.stopRequested || (t !== undefined && t.desiredState !== 'running'),
    };
  }

  /** One part of this node's load balancers, from the current inputs. */
  private async syncLb(part: LbPart, full: boolean): Promise<void> {
    const inputs = this.lbInputs();
    if (!inputs) return;
    const { models, place } = inputs;
    const failures: LbFailure[] =
      part === 'mesh' ? await this.lb.syncMesh(models, place, full) : await this.lb.syncSandboxes(models, place, full);
    this.lbTables[part] = part === 'mesh' ? (place.ingress ? 1 : 0) : models.sandboxes.size;
    if (failures.length > 0) {
      this.lbApplied[part] = undefined;
      throw new ShoalError('SHOAL_ERR_SYNC_FAILED', `load balancer sync: ${failures.length} change(s) not applied`, {
        details: { failures },
      });
    }
    this.lbApplied[part] = { draining: new Set(inputs.draining), joined: new Set(inputs.joined) };
    this.reportLb();
    this.workloads.loadBalancersApplied();
  }

  /** Whether both parts of this node's load balancers applied every endpoint of task `taskId` as draining. */
  private letGoHere(taskId: string): boolean {
    const { mesh, sandboxes } = this.lbApplied;
    if (!mesh || !sandboxes) return false;
    for (const e of this.session.state.endpoints.values()) {
      if (e.ownerId === taskId && e.nodeId !== '' && !(mesh.draining.has(e.id) && sandboxes.draining.has(e.id))) return false;
    }
    return true;
  }

  /**
   * Tells the manager what both parts of this node's load balancers applied (each built its
   * models from lists that named these endpoints so): the draining endpoints none of them
   * sends a new connection to any more, which lets a task stop once every node that
   * balanced to it said so; and the endpoints all of them now balance to, which a rolling
   * update's next batch waits for.
   */
  private reportLb(): void {
    const { mesh, sandboxes } = this.lbApplied;
    if (!mesh || !sandboxes) return;
    const draining = [...mesh.draining].filter((id) => sandboxes.draining.has(id));
    if (draining.length > 0) this.session.reportDrained(draining);
    this.session.reportJoined([...mesh.joined].filter((id) => sandboxes.joined.has(id)));
  }

  /** The data plane's drift: what a sync would change now (nothing when the kernel is right). */
  async doctor(): Promise<DoctorReport> {
    return doctorReport(await this.differences());
  }

  /**
   * Every difference between the kernel and the current inputs (doctor.ts): the overlay's
   * changes, the load balancers' and the resolver's tables, and workloads the agent takes
   * for running whose process is gone. A sandbox namespace without a workload is the
   * overlay's (`- netns`).
   */
  private async differences(): Promise<DoctorDifference[]> {
    const model = this.model();
    if (!model) return [];
    const out = overlayDifferences(await this.overlay.doctor(model));
    const inputs = this.lbInputs();
    if (inputs) out.push(...(await this.lb.doctor(inputs.models, inputs.place)));
    out.push(...resolverDifferences(await this.resolver.doctor(this.resolverSandboxes())));
    const running = this.workloads.list().filter((w) => w.phase === 'running');
    out.push(
      ...workloadDifferences(
        running.map((w) => ({
          id: w.id,
          name: w.name,
          kind: w.kind,
          pid: w.pid,
          netns: this.sandboxNetns(w.id),
          alive: w.pid > 0 && identify(w.pid) !== undefined,
        })),
      ),
    );
    return out;
  }

  /**
   * `doctor --repair`: the differences now, then one full sync of each part through its
   * own runner (the code that applies them normally; the task runtime looks at every
   * process first, so a gone one ends and its sandbox goes with the overlay's sync), then
   * the differences again. A part that has not started (the agent still waits for the
   * manager or gossip) is reported as not applied.
   */
  async repair(): Promise<DoctorReport> {
    const before = await this.differences();
    if (before.length === 0) return repairReport([], [], []);
    const failures: DoctorFailure[] = [];
    this.runtime.checkNow();
    await this.workloads.runner.syncNow();
    const parts: Array<[string, SyncRunner]> = [
      ['overlay', this.overlayRunner],
      ['mesh', this.lbRunner],
      ['sandboxes', this.vipRunner],
    ];
    for (const [part, runner] of parts) {
      const r = await runner.syncNow();
      if (!r.ran) {
        failures.push({
          where: part,
          code: 'SHOAL_ERR_AGENT_NOT_SYNCING' satisfies AgentErrorCode,
          message: `the agent has not started programming the ${part === 'overlay' ? 'overlay' : 'load balancers'} yet (it waits for the manager's lists or gossip)`,
        });
      } else if (r.error !== undefined) failures.push(...syncFailures(part, r.error));
    }
    return repairReport(before, await this.differences(), failures);
  }

  // ------------------------------------------------------------------ requests

  private async onRequest(req: AgentRequest): Promise<AgentResponseBody> {
    if (req.kind === 'doctor') return { doctor: req.doctorRepair === true ? await this.repair() : await this.doctor() };
    const id = req.taskId || req.containerId;
    const w = this.workloads.find(id);
    if (req.kind === 'logs') {
      // an ended task's output stays readable until the manager forgets the task; a task
      // this node has no log of answers with none (the API's contract)
      try {
        const r = await this.runtime.readLogFrom(w?.id ?? id, {
          tail: req.tail,
          offset: req.logOffset,
          sinceMs: req.logSinceMs,
          times: req.logTimestamps === true,
        });
        return { logs: r.data, logEnd: r.end, ...(r.times ? { logTimes: r.times } : {}) };
      } catch (err) {
        if ((err as { code?: string }).code === 'SHOAL_ERR_TASK_NO_RECORD') return { logs: new Uint8Array(), logEnd: 0 };
        throw err;
      }
    }
    if (!w || w.phase !== 'running') {
      return { exitCode: -1, errorCode: 'SHOAL_ERR_NOT_RUNNING', errorMessage: `task ${id} is not running on this node` };
    }
    return this.exec(w.id, req.argv, req.timeoutMs, { env: req.env, workdir: req.workdir });
  }

  async exec(id: string, argv: string[], timeoutMs: number, extra: { env?: string[]; workdir?: string } = {}): Promise<AgentResponseBody> {
    try {
      const r = await this.runtime.exec(id, argv, {
        ...(timeoutMs > 0 ? { timeoutMs } : {}),
        ...(extra.env && extra.env.length > 0 ? { env: extra.env } : {}),
        ...(extra.workdir ? { workdir: extra.workdir } : {}),
      });
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as Error & { code?: string };
      return { exitCode: -1, errorCode: e.code ?? 'SHOAL_ERR_INTERNAL', errorMessage: e.message };
    }
  }

  status(): AgentStatus {
    const g = this.gossip;
    const st = this.overlayRunner.stats;
    return {
      nodeId: this.nodeId,
      prefix: this.o.prefix,
      advertiseAddr: this.o.advertiseAddr,
      connected: this.connected,
      workloads: this.workloads.list().map((w) => ({ id: w.id, name: w.name, kind: w.kind, phase: w.phase, pid: w.pid, health: w.health })),
      gossip: {
        members: g ? g.members().map((m) => ({ name: m.name, addr: m.addr, state: m.state })) : [],
        dead: [...(this.gossipEndpoints?.dead ?? [])],
        ...(g && g.status !== 'new' ? { drops: g.stats().drops } : {}),
      },
      overlay: {
        syncs: st.syncs,
        failures: st.failures,
        lastDurationMs: st.lastDurationMs,
        lastError: st.lastError ? String((st.lastError as Error).message ?? st.lastError) : '',
      },
      lb: lbStatus([this.lbRunner.stats, this.vipRunner.stats], this.lbTables.mesh + this.lbTables.sandboxes),
      dns: this.resolver.stats(),
      view: this.lastStats,
      remotes: this.lastRemoteCounts,
    };
  }

  /** The data-plane summary of `shoal info` (node-info.ts). */
  info(): NodeInfo {
    const dns = this.resolver.stats();
    return nodeInfo({
      nodeId: this.nodeId,
      prefix: this.o.prefix,
      advertiseAddr: this.o.advertiseAddr,
      gossipPort: this.o.gossipPort,
      connected: this.connected,
      modelNetworks: this.lastModel?.networks.length ?? 0,
      appliedSandboxes: this.applied.size,
      services: this.state?.services.values() ?? [],
      lbTables: this.lbTables.mesh + this.lbTables.sandboxes,
      resolverSandboxes: dns.sandboxes,
      resolverQueries: dns.server.queries,
      workloadPhases: this.workloads.list().map((w) => w.phase),
      ...(this.gossip && this.gossip.status !== 'new' ? { gossipDrops: this.gossip.stats().drops } : {}),
    });
  }

  // ------------------------------------------------------------------ shutdown

  /**
   * Graceful stop. Without keepState: every workload stopped (reported shut down), this
   * node's endpoints withdrawn from gossip, gossip left, and every kernel object with the
   * prefix removed. With keepState: processes and kernel objects stay for the next agent
   * to adopt (an agent upgrade without a blip), and gossip is closed without leaving.
   */
  async stop(options: { keepState: boolean }): Promise<void> {
    this.stopping = true;
    this.startupTimer?.cancel();
    this.lbGate?.cancel();
    await this.workloads.runner.stop();
    if (!options.keepState) {
      await this.workloads.stopAll();
      this.gossipEndpoints?.publish([]);
    }
    await this.lbRunner.stop();
    await this.vipRunner.stop();
    await this.overlayRunner.stop();
    // a kept sandbox has no resolver until the next agent serves it (its first overlay sync)
    this.resolver.close();
    this.endpointWatch?.close();
    this.gossipEndpoints?.close();
    if (this.gossip) {
      try {
        if (!options.keepState) await this.gossip.leave();
      } catch (err) {
        this.logger.debug({ err }, 'gossip leave failed');
      }
      await this.gossip.close();
    }
    if (!options.keepState && this.lastModel) {
      const empty: OverlayModel = { ...this.lastModel, networks: [], sandboxes: [], remotes: [] };
      const report = await this.overlay.sync(empty, true);
      if (report.failures.length > 0) this.logger.warn({ failures: report.failures }, 'some kernel objects were not removed');
      try {
        await this.lb.removeHostTables(meshTableName(this.o.prefix));
      } catch (err) {
        this.logger.warn({ err }, 'the routing mesh table was not removed');
      }
    }
    this.readiness.close();
    this.session.close();
    this.runtime.close();
  }
}

/** What decides whether gossip.json must be written again. */
/** The status of the load balancers: both runners' counts summed, the slower last sync, the first error. */
function lbStatus(stats: readonly SyncStats[], tables: number): AgentStatus['lb'] {
  const err = stats.find((st) => st.lastError !== undefined)?.lastError;
  return {
    syncs: stats.reduce((n, st) => n + st.syncs, 0),
    failures: stats.reduce((n, st) => n + st.failures, 0),
    lastDurationMs: Math.max(...stats.map((st) => st.lastDurationMs)),
    lastError: err ? String((err as Error).message ?? err) : '',
    tables,
  };
}

function resumeKey(r: GossipResume): string {
  return encodeGossipResume(r);
}

/** This node's gossip port and its manager's port: guarded from its tasks (plan-egress.ts). */
function controlPorts(gossipPort: number, managerAddr: string | undefined): { tcp: number[]; udp: number[] } {
  const port = Number(/:(\d+)$/.exec(managerAddr ?? '')?.[1]);
  return { tcp: Number.isInteger(port) && port > 0 ? [gossipPort, port] : [gossipPort], udp: [gossipPort] };
}

function peerGossipAddr(p: Peer, fallbackPort: number): string {
  const port = p.gossipPort || fallbackPort;
  return p.addr.includes(':') ? `[${p.addr}]:${port}` : `${p.addr}:${port}`;
}

/** The MTU of the link holding the advertise address (the underlay). */
async function readUnderlayMtu(advertiseAddr: string, logger: Logger): Promise<number> {
  const rtnl = await openRtnl('');
  try {
    const addr = (await rtnl.listAddresses()).find((a) => a.address === advertiseAddr);
    const link = addr ? await rtnl.getLink(addr.link) : undefined;
    if (link) return link.mtu;
    logger.warn({ advertiseAddr }, 'no local link holds the advertise address; assuming an underlay MTU of 1500');
    return 1500;
  } finally {
    rtnl.close();
  }
}
