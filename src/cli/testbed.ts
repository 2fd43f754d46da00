/**
 * `shoal testbed up|status|exec|down`: several hosts as network namespaces on this machine,
 * and (unless `up --no-cluster`) a cluster in them: a manager in h1 and an agent in every
 * host, which plain `shoal ...` commands reach through the context file `up` writes.
 */
import type { Command } from 'commander';
import type { ClusterStatus } from '../testbed/cluster.ts';
import { Testbed, type TestbedStatus } from '../testbed/testbed.ts';
import { parseDurationMs } from './parse/duration.ts';
import { badFlagValue } from './parse/usage-error.ts';

export function registerTestbedCommands(program: Command): void {
  const testbed = program.command('testbed').description('Simulate several hosts with network namespaces on this machine (root)');
  const prefixOpt = (cmd: Command): Command =>
    cmd.option('--prefix <prefix>', 'prefix of every namespace the testbed owns; names its state dir and context too', 'shoal-');

  prefixOpt(testbed.command('up'))
    .description('Create (or repair) the underlay and N hosts, and start a manager in h1 and an agent in every host; idempotent')
    .option('--hosts <n>', 'number of hosts', '3')
    .option('--no-cluster', 'namespaces only: start no manager and no agent (neither ends running ones)')
    .option('--timeout <duration>', 'how long to wait for the manager and every node to be Ready', '60s')
    .option('--format <format>', 'json for machine-readable output')
    .action(async (opts: { hosts: string; prefix: string; cluster: boolean; timeout: string; format?: string }) => {
      const hosts = parseCount(opts.hosts);
      const timeoutMs = parseDurationMs(opts.timeout, '--timeout');
      const tb = new Testbed({ prefix: opts.prefix });
      const status = await tb.up(hosts);
      let cluster: ClusterStatus | undefined;
      if (opts.cluster) {
        const { TestbedCluster } = await import('../testbed/cluster.ts');
        cluster = await new TestbedCluster(tb).up(hosts, { timeoutMs });
      }
      process.stdout.write(
        opts.format === 'json'
          ? `${JSON.stringify({ ...status, cluster }, null, 2)}\n`
          : formatStatus(status) + formatCluster(cluster, true),
      );
    });

  prefixOpt(testbed.command('status'))
    .description('Show the testbed: hosts, addresses, the cluster it started, processes')
    .option('--format <format>', 'json for machine-readable output')
    .action(async (opts: { format?: string; prefix: string }) => {
      const tb = new Testbed({ prefix: opts.prefix });
      const status = await tb.status();
      const { TestbedCluster } = await import('../testbed/cluster.ts');
      const cluster = await new TestbedCluster(tb).status();
      process.stdout.write(
        opts.format === 'json'
          ? `${JSON.stringify({ ...status, cluster }, null, 2)}\n`
          : formatStatus(status) + formatCluster(cluster, false),
      );
    });

  prefixOpt(testbed.command('exec'))
    .description('Run a command inside a host (h1, h2, ... or client): shoal testbed exec h1 -- ping -c1 192.0.2.12')
    .argument('<host>', 'h1..hN, or client for the outside client on the underlay')
    .argument('<command...>', 'command and arguments (after --)')
    .allowUnknownOption()
    .action(async (host: string, argv: string[], opts: { prefix: string }) => {
      const result = await new Testbed({ prefix: opts.prefix }).exec(host, argv, { stdio: 'inherit' });
      process.exitCode = result.code;
    });

  prefixOpt(testbed.command('down'))
    .description('End every process of the testbed, remove its namespaces and links, its state dir and its context file')
    .action(async (opts: { prefix: string }) => {
      const { namespaces, killed, removedFiles } = await new Testbed({ prefix: opts.prefix }).down();
      process.stdout.write(
        `removed ${namespaces.length} namespace(s)${killed.length ? `, ended ${killed.length} process(es)` : ''}` +
          `${removedFiles.length ? `, removed ${removedFiles.join(' ')}` : ''}\n`,
      );
    });
}

function parseCount(text: string): number {
  if (!/^\d+$/.test(text)) throw badFlagValue('--hosts', text, 'expected a whole number');
  return Number(text);
}

export function formatStatus(s: TestbedStatus): string {
  if (!s.underlay.exists && s.hosts.length === 0) return 'testbed is down\n';
  const nsWidth = Math.max('NAMESPACE'.length, ...s.hosts.map((h) => h.netns.length));
  const lines = [
    `testbed is ${s.up ? 'up' : 'degraded'}`,
    `underlay  ${s.underlay.netns}  bridge ${s.underlay.bridge}  client ${s.underlay.client}${s.underlay.exists ? '' : '  (missing)'}`,
    `HOST  ${'NAMESPACE'.padEnd(nsWidth)}  ADDRESS         STATE`,
    ...s.hosts.map((h) => `${h.name.padEnd(5)} ${h.netns.padEnd(nsWidth)}  ${h.address.padEnd(15)} ${h.up ? 'up' : 'down'}`),
  ];
  if (s.hostNamespaces.length) lines.push(`host namespaces: ${s.hostNamespaces.join(' ')}`);
  if (s.processes.length) lines.push(`processes: ${s.processes.map((p) => `${p.pid} (${p.netns})`).join(', ')}`);
  return lines.join('\n') + '\n';
}

/** The cluster part: what runs where, its logs, and how to talk to it. */
export function formatCluster(c: ClusterStatus | undefined, afterUp: boolean): string {
  if (c === undefined) return afterUp ? 'no cluster started (--no-cluster)\n' : 'no cluster (`shoal testbed up` starts one)\n';
  const rows: string[][] = [['ROLE', 'HOST', 'PID', 'STATE', 'NODE', 'LOG']];
  const state = (alive: boolean, action: string | undefined): string => (alive ? (action ?? 'running') : 'not running');
  if (c.manager)
    rows.push(['manager', c.manager.host, String(c.manager.pid), state(c.manager.alive, c.manager.action), '-', c.manager.log]);
  for (const a of c.agents) {
    const node = a.nodeId ? `${a.nodeId}${a.nodeState ? ` (${a.nodeState})` : ''}` : '-';
    rows.push(['agent', a.host, String(a.pid), state(a.alive, a.action), node, a.log]);
  }
  const widths = rows[0]!.map((_, k) => Math.max(...rows.map((r) => r[k]!.length)));
  const lines = ['', `cluster (state ${c.stateFile}, logs in ${c.logDir})`];
  if (c.manager) lines.push(`manager: tcp://${c.manager.listenAddr} inside the testbed, unix://${c.manager.socket} from this machine`);
  lines.push(...rows.map((r) => r.map((v, k) => (k === r.length - 1 ? v : v.padEnd(widths[k]!))).join('  ')));
  for (const l of c.left) {
    lines.push(
      `${l.host} left the cluster: its agent${l.pid === undefined ? '' : ` (pid ${l.pid})`} ended, node ${l.nodeId || '-'} removed`,
    );
  }
  if (c.ended.length) lines.push(`ended processes running outside their host: ${c.ended.join(', ')}`);
  if (c.context) {
    const how = c.context.selectWith ? `${c.context.selectWith} shoal node ls` : 'shoal node ls';
    lines.push(`context: ${c.context.file}: \`${how}\` talks to this manager (-H, SHOAL_HOST, --data-dir, SHOAL_DATA_DIR still win)`);
  }
  return lines.join('\n') + '\n';
}
