/**
 * The node's embedded resolver (src/dns): one DnsServer for every sandbox on the node, the
 * handler chain over the current record index, each sandbox's upstreams over its own
 * transport, and the redirect table in each sandbox that sends 127.0.0.11:53 to the
 * resolver's sockets there.
 *
 * The agent calls `sync` with the sandboxes the overlay has put in place, before their
 * processes start (so a task that resolves a name as it starts gets an answer), and calls
 * `invalidate` whenever its view changes. The index is built again on the first query after
 * a change, so a burst of gossip events costs one build, and no answer is older than the
 * view.
 */
import { readFileSync } from 'node:fs';
import { asShoalError } from '../common/errors.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { createRng } from '../common/rng.ts';
import { createChain } from '../dns/handler.ts';
import { forwardHandler, type ForwardStats } from '../dns/handlers/forward.ts';
import { checkQuery } from '../dns/handlers/query-check.ts';
import { recordsHandler } from '../dns/handlers/records.ts';
import { buildRecordIndex, type RecordIndex, type RecordInput } from '../dns/records.ts';
import { DnsServer, type ServerStats } from '../dns/server.ts';
import { sandboxUpstreams, TransportUpstream } from '../dns/upstream.ts';
import { NetnsDnsTransport } from '../dns/upstream-transport.ts';
import type { Nft } from '../kernel/types.ts';
import { netnsPath } from '../kernel/netns.ts';
import { planResolverRedirect } from '../vip/mesh-plan.ts';
import { type TableFailure, WholeTables } from '../vip/mesh.ts';
import type { ResolverFinding } from './doctor.ts';

/** The resolver redirect table in every sandbox (family ip). */
export function resolverTableName(prefix: string): string {
  return `${prefix}dns`;
}

/** A sandbox the resolver serves. */
export interface ResolverSandboxSpec {
  id: string;
  /** Its namespace's name (/run/netns/NAME). */
  netns: string;
  /** Its networks: the names it may resolve. */
  networkIds: readonly string[];
  /** Its own upstream servers (`--dns`); empty: the host's. */
  dns: readonly string[];
  /** Every network it is on is internal: nothing is forwarded. */
  internal: boolean;
}

export interface ResolverFailure {
  sandbox: string;
  code: string;
  message: string;
}

export interface ResolverStats {
  sandboxes: number;
  server: ServerStats;
  forward: ForwardStats;
  /** Index builds so far, and the problems of the last one. */
  builds: number;
  problems: number;
}

interface Served {
  netns: string;
  transport: NetnsDnsTransport;
  upstreams: TransportUpstream[];
  upstreamKey: string;
}

export interface AgentResolverOptions {
  prefix: string;
  logger: Logger;
  clock: Clock;
  nft: (netns: string) => Nft;
  /** The records, as the agent's view has them now (read when the index is rebuilt). */
  records: () => RecordInput;
  /** The host's resolv.conf (default: /etc/resolv.conf, read at each sync that needs it). */
  hostResolvConf?: () => string;
  ttlSec?: number;
}

export class AgentResolver {
  private readonly o: AgentResolverOptions;
  private readonly server: DnsServer;
  private readonly forward: ReturnType<typeof forwardHandler>;
  private readonly tables: WholeTables;
  private readonly served = new Map<string, Served>();
  private index: RecordIndex | undefined;
  private builds = 0;
  private problems = 0;

  constructor(o: AgentResolverOptions) {
    this.o = o;
    this.forward = forwardHandler({
      upstreams: (req) => this.served.get(req.sandboxId)?.upstreams ?? [],
      clock: o.clock,
      onTryFailed: (upstream, reason) => o.logger.debug({ upstream, reason }, 'upstream resolver failed'),
    });
    const resolver = createChain(
      [
        checkQuery,
        recordsHandler({ index: () => this.currentIndex(), rng: createRng(), ...(o.ttlSec !== undefined ? { ttlSec: o.ttlSec } : {}) }),
        this.forward.handler,
      ],
      { onError: (err, req) => o.logger.warn({ err, name: req.query.question.name }, 'resolver error') },
    );
    // answers are reused while the index they came from is current (invalidate drops it)
    this.server = new DnsServer({ resolver, logger: o.logger, generation: () => this.currentIndex() });
    this.tables = new WholeTables(o.nft, o.logger);
  }

  /** The agent's view changed: the index is built again when it is next asked. */
  invalidate(): void {
    this.index = undefined;
  }

  private currentIndex(): RecordIndex {
    if (this.index) return this.index;
    const index = buildRecordIndex(this.o.records());
    this.index = index;
    this.builds++;
    if (index.problems.length !== this.problems && index.problems.length > 0) {
      this.o.logger.info({ problems: index.problems.slice(0, 10), count: index.problems.length }, 'records left out of the resolver');
    }
    this.problems = index.problems.length;
    return index;
  }

  /**
   * Serves exactly these sandboxes: opens the sockets of new ones, updates the networks and
   * upstreams of the others, closes those gone, and brings each one's redirect table to its
   * ports. Returns what it could not do (the rest is done).
   */
  async sync(sandboxes: readonly ResolverSandboxSpec[], full: boolean): Promise<ResolverFailure[]> {
    const failures: ResolverFailure[] = [];
    const want = new Map(sandboxes.map((s) => [s.id, s]));
    for (const [id, s] of [...this.served]) {
      const w = want.get(id);
      if (w && w.netns === s.netns) continue;
      this.server.stop(id);
      s.transport.close();
      this.served.delete(id);
      this.tables.forget(s.netns); // its namespace is gone with it
    }
    const tables = [];
    const name = resolverTableName(this.o.prefix);
    let hostConf: string | undefined;
    for (const sb of sandboxes) {
      try {
        const ports = await this.server.serve({ id: sb.id, nsPath: netnsPath(sb.netns), networkIds: sb.networkIds });
        let s = this.served.get(sb.id);
        if (!s) {
          s = { netns: sb.netns, transport: new NetnsDnsTransport(netnsPath(sb.netns)), upstreams: [], upstreamKey: '' };
          this.served.set(sb.id, s);
        }
        if (sb.dns.length === 0 && !sb.internal) hostConf ??= this.hostResolvConf();
        const list = sandboxUpstreams({ dns: sb.dns, hostResolvConf: hostConf ?? '', internal: sb.internal });
        const key = list.map((u) => `${u.address}:${u.port}`).join(',');
        if (key !== s.upstreamKey) {
          const transport = s.transport;
          s.upstreams = list.map((u) => new TransportUpstream(transport, u));
          s.upstreamKey = key;
        }
        tables.push({ netns: sb.netns, name, table: planResolverRedirect(name, ports.udpPort, ports.tcpPort) });
      } catch (err) {
        const e = asShoalError(err);
        failures.push({ sandbox: sb.id, code: e.code, message: e.message });
      }
    }
    const tableFailures: TableFailure[] = await this.tables.sync(tables, full);
    for (const f of tableFailures) failures.push({ sandbox: f.netns, code: f.code, message: f.message });
    return failures;
  }

  private hostResolvConf(): string {
    if (this.o.hostResolvConf) return this.o.hostResolvConf();
    try {
      return readFileSync('/etc/resolv.conf', 'utf8');
    } catch (err) {
      this.o.logger.warn({ err }, 'cannot read /etc/resolv.conf: sandboxes without --dns forward nowhere');
      return '';
    }
  }

  /**
   * What is wrong with these sandboxes' resolvers: a sandbox the resolver has no sockets in
   * (127.0.0.11 answers nothing there: the next sync opens them), and what a full sync of
   * the others' redirect tables would change. A sandbox without sockets has no ports its
   * table could be checked against, so its table is not compared. One finding each
   * (doctor.ts turns them into differences).
   */
  async doctor(sandboxes: readonly ResolverSandboxSpec[]): Promise<ResolverFinding[]> {
    const name = resolverTableName(this.o.prefix);
    const wanted = [];
    const unserved: ResolverFinding[] = [];
    for (const sb of sandboxes) {
      const ports = this.server.ports(sb.id);
      if (ports) wanted.push({ netns: sb.netns, name, table: planResolverRedirect(name, ports.udpPort, ports.tcpPort) });
      else
        unserved.push({
          netns: sb.netns,
          kind: 'unserved',
          text: 'the resolver has no sockets in this sandbox (127.0.0.11 does not answer)',
        });
    }
    const drift = await this.tables.doctor(wanted);
    return [...unserved, ...drift.map((d): ResolverFinding => ({ netns: d.netns, kind: d.kind, text: d.name }))];
  }

  stats(): ResolverStats {
    return {
      sandboxes: this.served.size,
      server: { ...this.server.stats },
      forward: { ...this.forward.stats },
      builds: this.builds,
      problems: this.problems,
    };
  }

  close(): void {
    this.server.close();
    for (const s of this.served.values()) s.transport.close();
    this.served.clear();
  }
}
