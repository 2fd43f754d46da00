/**
 * `shoal testbed up|status|exec|down`: several hosts as network namespaces on this machine.
 */
import type { Command } from 'commander';
import { Testbed, type TestbedStatus } from '../testbed/testbed.ts';

export function registerTestbedCommands(program: Command): void {
  const testbed = program.command('testbed').description('Simulate several hosts with network namespaces on this machine (root)');
  const prefixOpt = (cmd: Command): Command => cmd.option('--prefix <prefix>', 'prefix of every namespace the testbed owns', 'shoal-');

  prefixOpt(testbed.command('up'))
    .description('Create (or repair) the underlay and N hosts; idempotent')
    .option('--hosts <n>', 'number of hosts', '3')
    .action(async (opts: { hosts: string; prefix: string }) => {
      const tb = new Testbed({ prefix: opts.prefix });
      const status = await tb.up(parseCount(opts.hosts));
      process.stdout.write(formatStatus(status));
    });

  prefixOpt(testbed.command('status'))
    .description('Show the testbed: hosts, addresses, processes')
    .option('--format <format>', 'json for machine-readable output')
    .action(async (opts: { format?: string; prefix: string }) => {
      const status = await new Testbed({ prefix: opts.prefix }).status();
      process.stdout.write(opts.format === 'json' ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
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
    .description('Remove every namespace, link and process of the testbed')
    .action(async (opts: { prefix: string }) => {
      const { namespaces, killed } = await new Testbed({ prefix: opts.prefix }).down();
      process.stdout.write(`removed ${namespaces.length} namespace(s)${killed.length ? `, ended ${killed.length} process(es)` : ''}\n`);
    });
}

function parseCount(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : NaN;
}

export function formatStatus(s: TestbedStatus): string {
  if (!s.underlay.exists && s.hosts.length === 0) return 'testbed is down\n';
  const lines = [
    `testbed is ${s.up ? 'up' : 'degraded'}`,
    `underlay  ${s.underlay.netns}  bridge ${s.underlay.bridge}  client ${s.underlay.client}${s.underlay.exists ? '' : '  (missing)'}`,
    'HOST  NAMESPACE      ADDRESS         STATE',
    ...s.hosts.map((h) => `${h.name.padEnd(5)} ${h.netns.padEnd(14)} ${h.address.padEnd(15)} ${h.up ? 'up' : 'down'}`),
  ];
  if (s.hostNamespaces.length) lines.push(`host namespaces: ${s.hostNamespaces.join(' ')}`);
  if (s.processes.length) lines.push(`processes: ${s.processes.map((p) => `${p.pid} (${p.netns})`).join(', ')}`);
  return lines.join('\n') + '\n';
}
