/**
 * The steps of `shoal demo`, each a real check on the real kernel: packets through the
 * routing mesh from the outside client (192.0.2.1), dig inside a task's sandbox, the
 * manager's view of tasks and nodes. Each step prints what it does as the `shoal` command
 * that does the same, what it saw, and waits for what it expects with a deadline.
 *
 *   1 testbed up     3 hosts and their cluster (Testbed, TestbedCluster: `shoal testbed up`)
 *   2 deploy         overlay `front`; h3 paused, so that `web` (3 replicas, 8080 -> 80) and
 *                    `client` land on h1 and h2; h3 active again (nothing moves back to it)
 *   3 routing mesh   8080 on every host reaches every replica, also on h3, which has none
 *   4 DNS            from the client task: web (VIP), tasks.web (task addresses), PTR
 *   5 scale          5 replicas: requests reach the new ones; 3: none reach removed ones
 *   6 drain          a node's tasks move; it still answers on 8080
 *   7 node failure   a host's agent SIGKILLed and its eth0 down (inside its namespace): its
 *                    replicas leave the other hosts' load balancers and DNS within seconds,
 *                    then the manager marks the node down and replaces them
 *   8 doctor         GET /doctor on every live host's agent (its local socket): clean
 *
 * Each replica of `web` answers HTTP with its hostname (the first 12 characters of its task
 * ID, as Docker names a task's host); the tour names the task and host behind it from the
 * manager's task list.
 */
import type { Task } from '../api/api-types.ts';
import { defaultNetworkSpec, defaultServiceSpec } from '../api/api-defaults.ts';
import { DEFAULT_CONTEXT } from '../api/context.ts';
import { connectManager, type ManagerClient } from '../api/client.ts';
import { ShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { DEFAULT_UP_TIMEOUT_MS, TestbedCluster } from './cluster.ts';
import { type DemoSink, mustSucceed, type Observation, runIn, waitFor, type WaitContext } from './demo-wait.ts';
import { alive } from './processes.ts';
import { defaultTestbedConfig, type Testbed } from './testbed.ts';

export const DEMO_HOSTS = 3;
/** Environment variable naming the testbed prefix in the demo's tasks (a way to find them with /proc). */
export const DEMO_TESTBED_ENV = 'SHOAL_DEMO_TESTBED';
const NETWORK = 'front';
const PUBLISHED_PORT = 8080;
const WEB_REPLICAS = 3;
const SCALED_REPLICAS = 5;
/** Requests sent at once per round when sampling which replicas answer through a host. */
const ROUND = 6;
/** Deadline of each manager call. */
const CALL_TIMEOUT_MS = 15_000;
/**
 * The HTTP answer of a replica: reads the request up to its empty line (so that closing the
 * connection sends FIN, not RST), then names itself. Passed in the environment: socat's
 * address syntax would split a command holding commas or colons.
 */
const WEB_REPLY =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${#l} is the shell's, not a template
  'while read -r l; do test ${#l} -le 1 && break; done; ' +
  'printf "HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nConnection: close\\r\\n\\r\\nweb replica %s\\n" "$HOSTNAME"';
const WEB_COMMAND = ['socat', 'TCP-LISTEN:80,fork,reuseaddr', 'SYSTEM:eval $WEB_REPLY'];

export interface DoctorAnswer {
  clean: boolean;
  changes: number;
  text: string;
}

export interface TourDeps {
  tb: Testbed;
  out: DemoSink;
  doctor(dataDir: string): Promise<DoctorAnswer>;
  signal: AbortSignal;
  /** Deadline of each wait, ms. */
  waitTimeoutMs: number;
}

export interface TourStep {
  title: string;
  run(): Promise<void>;
}

interface DemoHost {
  index: number;
  nodeId: string;
  pid: number;
  dataDir: string;
}

/** A running task as the tour shows it. */
interface Replica {
  id: string;
  /** web.2 */
  short: string;
  /** web.2.<id>: its DNS name. */
  name: string;
  host: number;
  ip: string;
}

export class DemoTour {
  readonly steps: readonly TourStep[];
  private api: ManagerClient | undefined;
  private hosts: DemoHost[] = [];
  /** The host killed in step 7: gone from the live ones. */
  private dead: number | undefined;
  private readonly tb: Testbed;
  private readonly out: DemoSink;
  private readonly wait: WaitContext;

  constructor(private readonly deps: TourDeps) {
    this.tb = deps.tb;
    this.out = deps.out;
    this.wait = { out: deps.out, signal: deps.signal, timeoutMs: deps.waitTimeoutMs };
    this.steps = [
      { title: 'testbed up: 3 hosts, a manager in h1, an agent in each', run: () => this.testbedUp() },
      { title: `deploy: overlay ${NETWORK}, web (3 replicas, port ${PUBLISHED_PORT}), client`, run: () => this.deploy() },
      { title: `routing mesh: port ${PUBLISHED_PORT} on every host`, run: () => this.mesh() },
      { title: 'DNS from a client task: web, tasks.web, PTR', run: () => this.dns() },
      { title: `scale web to ${SCALED_REPLICAS} and back to ${WEB_REPLICAS}`, run: () => this.scale() },
      { title: 'drain a node', run: () => this.drain() },
      { title: 'node failure: agent killed, underlay cut', run: () => this.nodeFailure() },
      { title: 'doctor on every live host', run: () => this.doctor() },
    ];
  }

  /** The host step 7 cut off, once it did. */
  get deadHost(): number | undefined {
    return this.dead;
  }

  close(): void {
    this.api?.close();
    this.api = undefined;
  }

  // ---------------------------------------------------------------------------- steps

  private async testbedUp(): Promise<void> {
    this.cmd(`shoal testbed up --hosts ${DEMO_HOSTS}${this.prefixFlag()}`);
    const status = await this.tb.up(DEMO_HOSTS);
    for (const h of status.hosts)
      this.say(`${h.name}  ${h.netns}  ${h.address}  (underlay ${status.underlay.netns}, client ${status.underlay.client})`);
    this.say('starting a manager in h1 and an agent in every host, waiting until every node is Ready');
    const cluster = new TestbedCluster(this.tb, { logger: progressLogger(this.out) });
    const c = await cluster.up(DEMO_HOSTS, { timeoutMs: DEFAULT_UP_TIMEOUT_MS });
    this.hosts = c.agents.map((a) => ({ index: hostIndex(a.host), nodeId: a.nodeId, pid: a.pid, dataDir: a.dataDir }));
    for (const a of c.agents) this.say(`agent ${a.host}: pid ${a.pid}, node ${a.nodeId.slice(0, 12)} ${a.nodeState ?? ''}`);
    this.api = connectManager({ host: `unix://${cluster.managerSocket}`, timeoutMs: CALL_TIMEOUT_MS });
    this.cmd('shoal node ls');
    for (const n of await this.client().listNodes()) {
      this.say(`${n.id.slice(0, 12)}  ${n.description.hostname}  ${n.status.state}  ${n.spec.availability}  ${n.spec.role}`);
    }
  }

  private async deploy(): Promise<void> {
    const api = this.client();
    this.cmd(`shoal network create -d overlay --attachable ${NETWORK}`);
    const net = await api.createNetwork({ ...defaultNetworkSpec(NETWORK), attachable: true });
    this.say(`network ${NETWORK}: ${net.ipam.map((i) => i.subnet).join(', ')}, VXLAN ID ${net.vxlanId}`);

    this.cmd('shoal node update --availability pause h3');
    this.say('(paused: h3 gets no new task, so one host is left without a replica of web)');
    await this.setAvailability(3, 'pause');

    this.cmd(
      `shoal service create --name web --replicas ${WEB_REPLICAS} --network ${NETWORK} --publish ${PUBLISHED_PORT}:80 ` +
        `--env 'WEB_REPLY=<reads the request, answers "web replica $HOSTNAME">' -- ${WEB_COMMAND.slice(0, 2).join(' ')} '${WEB_COMMAND[2]}'`,
    );
    const web = defaultServiceSpec('web');
    web.mode = { replicated: { replicas: WEB_REPLICAS } };
    web.taskTemplate.command = [...WEB_COMMAND];
    web.taskTemplate.env = [`WEB_REPLY=${WEB_REPLY}`, this.marker()];
    web.networks = [{ target: NETWORK, aliases: [] }];
    web.endpointSpec.ports = [{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: PUBLISHED_PORT, publishMode: 'ingress' }];
    await api.createService(web);

    this.cmd(`shoal service create --name client --network ${NETWORK} -- sleep infinity`);
    const client = defaultServiceSpec('client');
    client.taskTemplate.command = ['sleep', 'infinity'];
    client.taskTemplate.env = [this.marker()];
    client.networks = [{ target: NETWORK, aliases: [] }];
    await api.createService(client);

    const replicas = await this.waitRunning('web', WEB_REPLICAS);
    await this.waitRunning('client', 1);
    this.cmd('shoal node update --availability active h3');
    this.say('(active again: running tasks stay where they are, the scheduler does not rebalance)');
    await this.setAvailability(3, 'active');
    this.cmd('shoal service ps web');
    this.showReplicas(replicas);
  }

  private async mesh(): Promise<void> {
    const replicas = await this.running('web');
    const withReplica = new Set(replicas.map((r) => r.host));
    for (const h of this.liveHosts()) {
      const note = withReplica.has(h) ? '' : ' (no replica of web on this host)';
      this.cmd(`shoal testbed exec${this.prefixFlag()} client -- curl -s http://${this.tb.hostAddress(h)}:${PUBLISHED_PORT}/${note}`);
      await this.sampleVia(h, replicas);
    }
    if (this.liveHosts().every((h) => withReplica.has(h))) {
      throw new ShoalError('SHOAL_ERR_TESTBED', 'every host runs a replica of web: the tour wanted one without (placement changed?)');
    }
  }

  private async dns(): Promise<void> {
    const client = await this.clientTask();
    const replicas = await this.running('web');
    const svc = await this.client().inspectService('web');
    const net = await this.client().inspectNetwork(NETWORK);
    const vip = svc.endpoint.virtualIps.find((v) => v.networkId === net.id)?.addr.split('/')[0];
    if (vip === undefined) throw new ShoalError('SHOAL_ERR_TESTBED', `service web has no virtual IP on ${NETWORK}`);
    this.say(`the client task ${client.short} runs on h${client.host}; its resolver is 127.0.0.11 inside its sandbox`);
    await this.digUntil(client, ['web'], (a) => a.join() === vip, `web resolves to its VIP ${vip}`);
    const want = replicas.map((r) => r.ip).sort();
    await this.digUntil(client, ['tasks.web'], (a) => a.join() === want.join(), `tasks.web resolves to the ${want.length} task addresses`);
    const first = replicas[0]!;
    await this.digUntil(
      client,
      ['-x', first.ip],
      (a) => a.join() === `${first.name}.${NETWORK}.`,
      `${first.ip} names its task ${first.short} (on h${first.host})`,
    );
  }

  private async scale(): Promise<void> {
    const api = this.client();
    const before = await this.running('web');
    this.cmd(`shoal service scale web=${SCALED_REPLICAS}`);
    await api.scaleService('web', SCALED_REPLICAS);
    const up = await this.waitRunning('web', SCALED_REPLICAS);
    const added = up.filter((r) => !before.some((b) => b.id === r.id));
    this.say(`new: ${added.map((r) => `${r.short} on h${r.host} (${r.ip})`).join(', ')}`);
    this.say(`requests through h1 reach all ${SCALED_REPLICAS}, the new ones included:`);
    await this.sampleVia(1, up);
    await this.tasksWebIs(up);

    this.cmd(`shoal service scale web=${WEB_REPLICAS}`);
    await api.scaleService('web', WEB_REPLICAS);
    const down = await this.waitRunning('web', WEB_REPLICAS);
    const removed = up.filter((r) => !down.some((d) => d.id === r.id));
    await waitFor(this.wait, `the ${removed.length} removed replicas to stop`, async () => {
      const tasks = await api.listTasks({ services: ['web'] });
      const stopping = removed.filter((r) => tasks.some((x) => x.id === r.id && x.status.state === 'running'));
      return stopping.length === 0 ? { done: true } : { progress: `${removed.length - stopping.length}/${removed.length} stopped` };
    });
    this.say(`removed: ${removed.map((r) => `${r.short} on h${r.host}`).join(', ')}`);
    for (const h of this.liveHosts()) {
      this.say(`through h${h}: every request answered, by the ${WEB_REPLICAS} remaining replicas only:`);
      await this.sampleVia(h, down);
    }
    await this.tasksWebIs(down);
  }

  private async drain(): Promise<void> {
    const client = await this.clientTask();
    const before = await this.running('web');
    // h1 when it can (the manager's own node: the manager stays, its tasks go), so that the
    // moved tasks land on the workers, one of which step 7 takes down
    const target = client.host !== 1 && before.some((r) => r.host === 1) ? 1 : pickHost(this.liveHosts(), before, [client.host]);
    if (target === undefined) throw new ShoalError('SHOAL_ERR_TESTBED', 'no host without the client task runs a replica of web');
    this.cmd(`shoal node update --availability drain h${target}`);
    await this.setAvailability(target, 'drain');
    const after = await waitFor(this.wait, `web's tasks to leave h${target}`, async () => {
      const r = await this.running('web');
      const left = r.filter((x) => x.host === target).length;
      if (r.length === WEB_REPLICAS && left === 0) return { done: r };
      return { progress: `${left} on h${target}, ${r.length}/${WEB_REPLICAS} running` };
    });
    this.showReplicas(after);
    this.say(`h${target} is drained and runs no replica; its port ${PUBLISHED_PORT} still reaches all ${WEB_REPLICAS}:`);
    await this.sampleVia(target, after);
    this.cmd(`shoal node update --availability active h${target}`);
    await this.setAvailability(target, 'active');
  }

  private async nodeFailure(): Promise<void> {
    const client = await this.clientTask();
    const before = await this.running('web');
    // not h1: it runs the manager
    const victim = pickHost(
      this.liveHosts().filter((h) => h !== 1),
      before,
      [client.host],
    );
    if (victim === undefined) throw new ShoalError('SHOAL_ERR_TESTBED', 'no worker host without the client task runs a replica of web');
    const host = this.host(victim);
    const lost = before.filter((r) => r.host === victim);
    this.say(`h${victim} runs ${lost.map((r) => `${r.short} (${r.ip})`).join(', ')}`);
    this.cmd(`kill -9 ${host.pid}   # h${victim}'s agent`);
    process.kill(host.pid, 'SIGKILL');
    await waitFor(this.wait, `h${victim}'s agent to end`, async () => (alive(host.pid) ? { progress: 'still running' } : { done: true }));
    const cut = `shoal testbed exec${this.prefixFlag()} h${victim} -- ip link set eth0 down`;
    this.cmd(cut);
    mustSucceed(await runIn(this.tb, `h${victim}`, ['ip', 'link', 'set', 'eth0', 'down'], cut), `cutting h${victim}'s underlay`);
    const t0 = Date.now();
    this.dead = victim;
    const survivors = before.filter((r) => r.host !== victim);
    for (const h of this.liveHosts()) {
      this.say(`through h${h}: every request answered, by replicas on live hosts only:`);
      await this.sampleVia(h, survivors, 3 * ROUND);
      this.say(`h${victim}'s replicas gone from h${h}'s load balancer ${since(t0)} after the kill`);
    }
    await this.tasksWebIs(survivors);
    this.say(`... and from DNS (tasks.web seen from h${client.host}) ${since(t0)} after the kill`);

    const api = this.client();
    const replaced = await waitFor(this.wait, `the manager to mark h${victim} down and replace its ${lost.length} task(s)`, async () => {
      const node = await api.inspectNode(host.nodeId);
      const r = (await this.running('web')).filter((x) => x.host !== victim);
      if (node.status.state === 'down' && r.length === WEB_REPLICAS) return { done: r };
      return { progress: `h${victim} ${node.status.state}, ${r.length}/${WEB_REPLICAS} running on live hosts` };
    });
    this.say(`h${victim} down, its tasks replaced ${since(t0)} after the kill:`);
    this.showReplicas(replaced);
    for (const h of this.liveHosts()) {
      this.say(`through h${h}:`);
      await this.sampleVia(h, replaced);
    }
    await this.tasksWebIs(replaced);
  }

  private async doctor(): Promise<void> {
    for (const h of this.liveHosts()) {
      const dataDir = this.host(h).dataDir;
      const command = `shoal doctor --data-dir ${dataDir}`;
      this.cmd(command);
      const d = await waitFor(this.wait, `h${h}'s data plane to match its agent's desired state`, async () => {
        const a = await this.deps.doctor(dataDir);
        return a.clean ? { done: a } : { progress: `${a.changes} change(s) needed`, command, output: a.text };
      });
      this.say(`h${h}: the data plane matches what its agent would program (${d.changes} changes)`);
    }
  }

  // ---------------------------------------------------------------------------- helpers

  private client(): ManagerClient {
    if (!this.api) throw new ShoalError('SHOAL_ERR_TESTBED', 'the cluster is not up');
    return this.api;
  }

  private say(text: string): void {
    this.out.line(`  ${text}`);
  }

  private cmd(text: string): void {
    this.out.line(`  $ ${/^shoal (?!testbed)/.test(text) ? contextEnv(this.tb.config.prefix) : ''}${text}`);
  }

  /** In the environment of every task the demo starts: which testbed's demo it belongs to. */
  private marker(): string {
    return `${DEMO_TESTBED_ENV}=${this.tb.config.prefix}`;
  }

  private prefixFlag(): string {
    return prefixFlag(this.tb.config.prefix);
  }

  private host(index: number): DemoHost {
    const h = this.hosts.find((x) => x.index === index);
    if (!h) throw new ShoalError('SHOAL_ERR_TESTBED', `the testbed has no host h${index}`);
    return h;
  }

  private liveHosts(): number[] {
    return this.hosts.map((h) => h.index).filter((i) => i !== this.dead);
  }

  private async setAvailability(index: number, availability: 'active' | 'pause' | 'drain'): Promise<void> {
    const api = this.client();
    const n = await api.inspectNode(this.host(index).nodeId);
    await api.updateNode(n.id, { ...n.spec, availability }, n.version);
  }

  /** The service's tasks that are meant to run. */
  private wanted(service: string): Promise<Task[]> {
    return this.client().listTasks({ services: [service], desiredState: 'running' });
  }

  /** The service's tasks that run and are meant to. */
  private async running(service: string): Promise<Replica[]> {
    return this.runningOf(await this.wanted(service));
  }

  /** Of tasks meant to run, those that do, in slot order. */
  private runningOf(wanted: readonly Task[]): Replica[] {
    return wanted
      .filter((t) => t.status.state === 'running')
      .map((t) => this.replica(t))
      .sort((a, b) => a.short.localeCompare(b.short, 'en', { numeric: true }));
  }

  private replica(t: Task): Replica {
    const host = this.hosts.find((h) => h.nodeId === t.nodeId)?.index ?? 0;
    const ip = t.networks.find((n) => n.networkName === NETWORK)?.addresses[0]?.split('/')[0] ?? '';
    return { id: t.id, short: `${t.serviceName}.${t.slot}`, name: t.name, host, ip };
  }

  private waitRunning(service: string, n: number): Promise<Replica[]> {
    return waitFor(this.wait, `${n} running task(s) of ${service}`, async () => {
      const wanted = await this.wanted(service);
      const r = this.runningOf(wanted);
      if (r.length === n && wanted.length === n) return { done: r };
      const states = wanted.map((t) => `${t.name} ${t.status.state}${t.status.err ? ` (${t.status.err})` : ''}`);
      return { progress: `${r.length}/${n}`, command: `shoal service ps ${service}`, output: states.join('\n') };
    });
  }

  private async clientTask(): Promise<Replica> {
    const [c] = await this.waitRunning('client', 1);
    return c!;
  }

  private showReplicas(replicas: readonly Replica[]): void {
    for (const r of replicas) this.say(`${r.short.padEnd(7)} ${r.id.slice(0, 12)}  h${r.host}  ${r.ip}`);
  }

  /**
   * Requests to the published port through host `h` from the outside client, in rounds of
   * ROUND at once, until every replica in `want` has answered. A round with a failed request,
   * or an answer from a task not in `want`, starts the tally again: the load balancer has
   * not converged yet. At least `minRequests` in a row must pass: a load balancer that still
   * holds one dead backend of N fails each request with probability 1/N, so a few clean
   * requests alone prove little. Prints who answered how often.
   */
  private async sampleVia(h: number, want: readonly Replica[], minRequests = ROUND): Promise<void> {
    const url = `http://${this.tb.hostAddress(h)}:${PUBLISHED_PORT}/`;
    const argv = ['curl', '-sS', '--connect-timeout', '1', '--max-time', '3', url];
    const shown = `shoal testbed exec${this.prefixFlag()} client -- ${argv.join(' ')}`;
    const tally = new Map<string, number>();
    let sent = 0;
    await waitFor(this.wait, `every replica to answer through h${h}`, async (): Promise<Observation<true>> => {
      const round = await Promise.all(Array.from({ length: ROUND }, () => runIn(this.tb, 'client', argv, shown)));
      let bad: Observation<true> | undefined;
      const seen: Replica[] = [];
      for (const r of round) {
        const name = /^web replica (\S+)/m.exec(r.output)?.[1];
        const rep = name === undefined ? undefined : want.find((w) => w.id.startsWith(name));
        if (r.code !== 0 || name === undefined) bad = { progress: 'a request failed', command: r.command, output: r.output };
        else if (rep === undefined)
          bad = { progress: `answered by ${name}, not a replica it should reach`, command: r.command, output: r.output };
        else seen.push(rep);
      }
      if (bad) {
        tally.clear();
        sent = 0;
        return bad;
      }
      sent += round.length;
      for (const s of seen) tally.set(s.id, (tally.get(s.id) ?? 0) + 1);
      const covered = want.filter((w) => tally.has(w.id)).length;
      if (covered === want.length && sent >= minRequests) return { done: true };
      return { progress: `${covered}/${want.length} replicas answered` };
    });
    const answers = want.map((w) => `${w.short}@h${w.host} x${tally.get(w.id)}`).join(', ');
    this.say(`h${h}: ${sent} requests -> ${answers}`);
  }

  /** dig +short inside `task`'s sandbox until `ok(answer lines)` holds; prints the answer. */
  private async digUntil(task: Replica, args: readonly string[], ok: (answer: string[]) => boolean, what: string): Promise<string[]> {
    const argv = ['dig', '+short', '+time=2', '+tries=1', ...args];
    const shown = `shoal exec ${task.short} -- ${argv.join(' ')}`;
    this.cmd(shown);
    const answer = await waitFor(this.wait, what, async () => {
      const r = await this.client().exec({ target: task.id, argv, timeoutMs: 10_000 });
      const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
      const lines = text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith(';'))
        .sort();
      return ok(lines) ? { done: lines } : { progress: lines.length ? lines.join(' ') : '(no answer)', command: shown, output: text };
    });
    this.say(`${answer.join(' ')}    <- ${what}`);
    return answer;
  }

  private async tasksWebIs(replicas: readonly Replica[]): Promise<void> {
    const client = await this.clientTask();
    const want = replicas.map((r) => r.ip).sort();
    await this.digUntil(
      client,
      ['tasks.web'],
      (a) => a.join() === want.join(),
      `tasks.web is the ${want.length} running replica${want.length === 1 ? '' : 's'}`,
    );
  }
}

/** The host (of `candidates`, none of `avoid`) running the most of `replicas`; ties: the higher index. */
function pickHost(candidates: readonly number[], replicas: readonly Replica[], avoid: readonly number[]): number | undefined {
  let best: number | undefined;
  let most = 0;
  for (const h of candidates) {
    if (avoid.includes(h)) continue;
    const n = replicas.filter((r) => r.host === h).length;
    if (n > 0 && n >= most) {
      best = h;
      most = n;
    }
  }
  return best;
}

/** ` --prefix P` for `shoal testbed` commands, '' for the default prefix. */
export function prefixFlag(prefix: string): string {
  return prefix === defaultTestbedConfig().prefix ? '' : ` --prefix ${prefix}`;
}

/** `SHOAL_CONTEXT=P ` before a command that asks the manager, '' for the default context. */
export function contextEnv(prefix: string): string {
  return prefix === DEFAULT_CONTEXT ? '' : `SHOAL_CONTEXT=${prefix} `;
}

function hostIndex(name: string): number {
  return Number(/^h(\d+)$/.exec(name)?.[1] ?? 0);
}

function since(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)}s`;
}

/** The cluster's info messages (a daemon started) as progress lines. */
function progressLogger(out: DemoSink): Logger {
  const logger: Logger = {
    debug() {},
    info(obj: object, msg?: string) {
      const o = obj as { role?: string; host?: string; pid?: number };
      if (msg === 'started' && o.role) out.line(`  started the ${o.role} in ${o.host} (pid ${o.pid})`);
    },
    warn(obj: object, msg?: string) {
      out.line(`  warning: ${msg ?? ''} ${JSON.stringify(obj)}`);
    },
    error(obj: object, msg?: string) {
      out.line(`  error: ${msg ?? ''} ${JSON.stringify(obj)}`);
    },
    child: () => logger,
  };
  return logger;
}
