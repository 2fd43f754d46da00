/**
 * Runs every load balancer of this node from the models lb-model.ts builds: one VipSyncer
 * per sandbox (the east-west table, and the ingress sandbox's), the ingress sandbox's
 * source-NAT table and the host's routing-mesh table (WholeTables), and the two sysctls the
 * mesh needs (forwarding in the ingress sandbox, route_localnet on the gateway bridge so
 * localhost reaches a published port).
 *
 * The VIP syncers' incremental path plans a service again only when handed a different
 * object, so each service model is kept as long as its content is unchanged: a sync after
 * one backend changed hands a new object for that one service only.
 */
import type { DoctorDifference } from '../api/api-types.ts';
import { runLimited } from '../common/concurrency.ts';
import { asShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Conntrack, Nft, Sysctl } from '../kernel/types.ts';
import { planIngressSnat, planMeshHost } from '../vip/mesh-plan.ts';
import { WholeTables, type WantedTable } from '../vip/mesh.ts';
import type { VipModel, VipService } from '../vip/model.ts';
import { VipSyncer } from '../vip/apply.ts';
import { nftDifferences } from './doctor.ts';
import { ingressSnatTableName, lbTableName, type LbModels } from './lb-model.ts';

/** The syncer key of the ingress sandbox's VIP table (task sandboxes are keyed by task id). */
const INGRESS = 'ingress';

/** VIP tables synced at once (each an nft transaction in its own namespace). */
const SANDBOX_CONCURRENCY = 4;

export interface LbFailure {
  /** `sandbox ID`, `ingress`, `mesh`, `sysctl NAME`. */
  where: string;
  code: string;
  message: string;
}

export interface LoadBalancersOptions {
  prefix: string;
  logger: Logger;
  nft: (netns: string) => Nft;
  conntrack: (netns: string) => Conntrack;
  sysctl: (netns: string) => Sysctl;
}

/** The namespaces the models are for. */
export interface LbPlace {
  /** Sandbox id -> its namespace, for every sandbox that exists now. */
  sandboxes: ReadonlyMap<string, string>;
  /** The ingress sandbox: its namespace and its interface on the ingress network, when it exists. */
  ingress: { netns: string; ifname: string } | undefined;
  /** The egress bridge, when it exists (route_localnet goes on it). */
  bridge: string | undefined;
}

export class LoadBalancers {
  private readonly o: LoadBalancersOptions;
  private readonly syncers = new Map<string, { netns: string; syncer: VipSyncer; hasTable: boolean }>();
  private readonly services = new Map<string, Map<string, { key: string; svc: VipService }>>();
  private readonly tables: WholeTables;
  private readonly sysctlsSet = new Set<string>();
  /** Problems last logged per part, so a steady problem is logged once. */
  private readonly lastProblems = { mesh: '', sandboxes: '' };

  constructor(options: LoadBalancersOptions) {
    this.o = options;
    this.tables = new WholeTables(options.nft, options.logger);
  }

  /** Keeps each service object while its content is the same (the syncer's change signal). */
  private stable(sandbox: string, model: VipModel): VipModel {
    const prev = this.services.get(sandbox) ?? new Map<string, { key: string; svc: VipService }>();
    const next = new Map<string, { key: string; svc: VipService }>();
    const services = model.services.map((s) => {
      const key = JSON.stringify(s);
      const old = prev.get(s.id);
      const kept = old && old.key === key ? old : { key, svc: s };
      next.set(s.id, kept);
      return kept.svc;
    });
    this.services.set(sandbox, next);
    return { tableName: model.tableName, services };
  }

  private syncerFor(id: string, netns: string): { netns: string; syncer: VipSyncer; hasTable: boolean } {
    let s = this.syncers.get(id);
    if (s && s.netns !== netns) s = undefined;
    if (!s) {
      s = {
        netns,
        // Deferred conntrack deletions: the cleanup of a departed backend, a walk of the
        // kernel's whole table, must not hold back the next backend's arrival.
        syncer: new VipSyncer(this.o.nft(netns), this.o.conntrack(netns), {
          logger: this.o.logger.child({ sandbox: id }),
          deferConntrack: true,
        }),
        hasTable: false,
      };
      this.syncers.set(id, s);
      this.services.delete(id);
    }
    return s;
  }

  /** The wanted whole tables of the mesh. */
  private wanted(models: LbModels, place: LbPlace, host = planMeshHost(models.mesh)): WantedTable[] {
    const out: WantedTable[] = [];
    out.push({ netns: '', name: models.mesh.tableName, table: host.table });
    if (place.ingress) {
      out.push({
        netns: place.ingress.netns,
        name: ingressSnatTableName(this.o.prefix),
        table: planIngressSnat(ingressSnatTableName(this.o.prefix), place.ingress.ifname),
      });
    }
    return out;
  }

  /** Both parts: the mesh's, then the sandboxes'. */
  async sync(models: LbModels, place: LbPlace, full: boolean): Promise<LbFailure[]> {
    const failures = await this.syncMesh(models, place, full);
    failures.push(...(await this.syncSandboxes(models, place, full)));
    return failures;
  }

  /**
   * What every published port of every host waits on: the sysctls, the ingress sandbox's
   * VIP table, its source-NAT table and the host's mesh table. A part of its own (the
   * agent runs it apart from syncSandboxes) so that a new backend reaches the routing mesh
   * without waiting behind the east-west tables of every sandbox on this node.
   */
  async syncMesh(models: LbModels, place: LbPlace, full: boolean): Promise<LbFailure[]> {
    const failures: LbFailure[] = [];
    const fail = (where: string, err: unknown): void => {
      const e = asShoalError(err);
      failures.push({ where, code: e.code, message: e.message });
    };
    const problems: string[] = [];

    // sysctls first: the tables depend on them to pass traffic, not to load
    const sysctls: Array<{ netns: string; name: string }> = [];
    if (place.ingress) sysctls.push({ netns: place.ingress.netns, name: 'net.ipv4.ip_forward' });
    if (place.bridge) sysctls.push({ netns: '', name: `net.ipv4.conf.${place.bridge}.route_localnet` });
    for (const s of sysctls) {
      const k = `${s.netns}\u0000${s.name}`;
      if (!full && this.sysctlsSet.has(k)) continue;
      try {
        const sc = this.o.sysctl(s.netns);
        if ((await sc.get(s.name)) !== '1') await sc.set(s.name, 1);
        this.sysctlsSet.add(k);
      } catch (err) {
        this.sysctlsSet.delete(k);
        fail(`sysctl ${s.name}`, err);
      }
    }
    for (const k of [...this.sysctlsSet]) if (!sysctls.some((s) => `${s.netns}\u0000${s.name}` === k)) this.sysctlsSet.delete(k);

    if (place.ingress && models.ingress) {
      await this.syncTable(INGRESS, place.ingress.netns, models.ingress, full, problems, failures);
    } else {
      this.forget(INGRESS); // no ingress sandbox: its namespace took the table with it
    }
    const host = planMeshHost(models.mesh);
    for (const f of await this.tables.sync(this.wanted(models, place, host), full)) {
      failures.push({ where: f.netns === '' ? 'mesh' : 'ingress', code: f.code, message: `${f.name}: ${f.message}` });
    }
    for (const p of host.problems) problems.push(`mesh ${p.item}: ${p.message}`);
    this.logProblems('mesh', problems);
    return failures;
  }

  /**
   * One VIP table per task sandbox that exists, a few at once: each is a transaction in its
   * own namespace, and one change of a service's backends touches every sandbox on its
   * networks.
   */
  async syncSandboxes(models: LbModels, place: LbPlace, full: boolean): Promise<LbFailure[]> {
    const failures: LbFailure[] = [];
    const problems: string[] = [];
    await runLimited([...place.sandboxes], SANDBOX_CONCURRENCY, (entry) =>
      this.syncTable(entry[0], entry[1], models.sandboxes.get(entry[0]), full, problems, failures),
    );
    // sandboxes gone: their namespace took the table with it
    for (const id of [...this.syncers.keys()]) if (id !== INGRESS && !place.sandboxes.has(id)) this.forget(id);
    this.logProblems('sandboxes', problems);
    return failures;
  }

  private async syncTable(
    id: string,
    netns: string,
    model: VipModel | undefined,
    full: boolean,
    problems: string[],
    failures: LbFailure[],
  ): Promise<void> {
    const s = this.syncerFor(id, netns);
    try {
      if (model && model.services.length > 0) {
        const r = await s.syncer.sync(this.stable(id, model), full);
        s.hasTable = true;
        for (const p of r.problems) problems.push(`${id}: ${p.message}`);
        for (const f of r.failures) failures.push({ where: `sandbox ${id}`, code: f.code, message: `${f.op}: ${f.message}` });
      } else if (s.hasTable || full) {
        await s.syncer.remove(lbTableName(this.o.prefix));
        s.hasTable = false;
        this.services.delete(id);
      }
    } catch (err) {
      s.syncer.invalidate();
      const e = asShoalError(err);
      failures.push({ where: `sandbox ${id}`, code: e.code, message: e.message });
    }
  }

  private forget(id: string): void {
    this.syncers.delete(id);
    this.services.delete(id);
  }

  /** Logs a part's model problems when they differ from the last logged (a steady problem is logged once). */
  private logProblems(part: 'mesh' | 'sandboxes', problems: readonly string[]): void {
    const text = problems.join('\n');
    if (text === this.lastProblems[part]) return;
    this.lastProblems[part] = text;
    if (problems.length > 0)
      this.o.logger.warn({ tables: part, problems: problems.slice(0, 20), count: problems.length }, 'load balancer model problems');
  }

  /**
   * What a full sync would change now, one difference per rule, element or table (nft kind,
   * doctor.ts); empty when every table is right.
   */
  async doctor(models: LbModels, place: LbPlace): Promise<DoctorDifference[]> {
    const out: DoctorDifference[] = [];
    const name = lbTableName(this.o.prefix);
    const check = async (id: string, netns: string, model: VipModel | undefined): Promise<void> => {
      if (!model || model.services.length === 0) {
        // a sandbox that reaches no service has no table
        if (await this.o.nft(netns).listTable('ip', name)) out.push(...nftDifferences(netns, name, [`- table ip ${name}`]));
        return;
      }
      out.push(...nftDifferences(netns, model.tableName, await this.syncerFor(id, netns).syncer.doctor(model)));
    };
    for (const [id, netns] of place.sandboxes) await check(id, netns, models.sandboxes.get(id));
    if (place.ingress) await check(INGRESS, place.ingress.netns, models.ingress);
    for (const d of await this.tables.doctor(this.wanted(models, place))) out.push(...nftDifferences(d.netns, d.name, d.lines));
    return out;
  }

  /** Deletes the host's mesh table (the namespaces of the sandboxes take theirs with them). */
  async removeHostTables(tableName: string): Promise<void> {
    await this.o.nft('').deleteTable('ip', tableName);
    this.tables.forget('');
  }
}
