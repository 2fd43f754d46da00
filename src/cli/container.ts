/**
 * `shoal container run|ls|inspect|rm`: standalone containers (sandboxes running a command)
 * on attachable networks, with Docker's flags where they apply. There are no images: the
 * command comes after `--` (`shoal container run --network front --name probe -- sleep 600`).
 * Containers always start detached; `run` prints the new container's ID.
 *
 * `--network-alias` applies to every network given with `--network` (Docker's long form
 * `--network name=front,alias=probe` sets aliases per network).
 */
import type { Command } from 'commander';
import type { Container, ContainerSpec } from '../api/api-types.ts';
import { defaultContainerSpec } from '../api/api-defaults.ts';
import type { CliContext } from './client-options.ts';
import { EXIT_FAILED, EXIT_OK, apiGroup, collect, errorLine, finishGroup, processContext, runCommand } from './client-options.ts';
import { CONTAINER_LIST, containerInspect, containerRow } from './format/container.ts';
import { renderList, renderQuiet } from './format/list.ts';
import { nodeName } from './format/node.ts';
import { apiMs } from './format/common.ts';
import { parseFilters } from './parse/filter.ts';
import { parseInspectFormat, parseListFormat } from './parse/format-option.ts';
import { pairsToRecord, parseEnv, parseLabel } from './parse/key-value.ts';
import { UsageError } from './parse/usage-error.ts';
import { printInspect } from './network.ts';
import { parseNetworkAttachment } from './service.ts';

interface RunFlags {
  network?: string[];
  name?: string;
  networkAlias?: string[];
  node?: string;
  hostname?: string;
  env?: string[];
  label?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
}

const CONTAINER_FILTERS = ['id', 'name', 'network', 'node', 'status'] as const;
const STATES = ['created', 'running', 'exited'];

/** The spec `container run` sends for these flags. */
export function buildContainerSpec(
  flags: RunFlags,
  command: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ContainerSpec {
  const spec = defaultContainerSpec(flags.name ?? '');
  const aliases = flags.networkAlias ?? [];
  if (aliases.length > 0 && (flags.network ?? []).length === 0) {
    throw new UsageError('--network-alias needs --network: aliases are scoped to a network');
  }
  spec.networks = (flags.network ?? []).map((n) => {
    const a = parseNetworkAttachment(n);
    return { target: a.target, aliases: n.includes('=') ? a.aliases : [...aliases] };
  });
  if (flags.node !== undefined) spec.node = flags.node;
  if (flags.hostname !== undefined) spec.hostname = flags.hostname;
  spec.env = (flags.env ?? []).map((e) => parseEnv(e, env));
  spec.labels = pairsToRecord((flags.label ?? []).map((l) => parseLabel(l)));
  spec.dns = [...(flags.dns ?? [])];
  spec.dnsSearch = [...(flags.dnsSearch ?? [])];
  spec.dnsOptions = [...(flags.dnsOption ?? [])];
  spec.command = [...command];
  return spec;
}

export function registerContainerCommands(program: Command, ctx: CliContext = processContext()): void {
  const container = apiGroup(program, 'container', 'Manage standalone containers on attachable networks');

  container
    .command('run')
    .description('Run a command in a new container (give it after --)')
    .argument('[command...]', 'the command the container runs, and its arguments')
    .option('--network <network>', 'connect to a network: NAME or name=NAME,alias=ALIAS (repeatable)', collect)
    .option('--name <name>', 'assign a name to the container')
    .option('--network-alias <alias>', 'add a network-scoped alias on every --network (repeatable)', collect)
    .option('--node <node>', "node to run on, by name or ID (default: the manager's node)")
    .option('-h, --hostname <name>', 'container host name')
    .option('-e, --env <var>', 'set an environment variable (repeatable)', collect)
    .option('-l, --label <key=value>', 'set metadata on the container (repeatable)', collect)
    .option('--dns <ip>', 'set custom DNS servers: the embedded resolver forwards to them (repeatable)', collect)
    .option('--dns-search <domain>', 'set custom DNS search domains (repeatable)', collect)
    .option('--dns-option <option>', 'set DNS options (repeatable)', collect)
    .option('-d, --detach', 'accepted for Docker compatibility: containers always run in the background')
    .action(async (command: string[], flags: RunFlags, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const spec = buildContainerSpec(flags, command, ctx.env);
        const c = await api().runContainer(spec);
        ctx.out(`${c.id}\n`);
      });
    });

  container
    .command('ls')
    .aliases(['list', 'ps'])
    .description('List containers (running ones unless --all)')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-f, --filter <filter>', 'filter output (id, name, network, node, status; repeatable)', collect)
    .option('--format <format>', 'format output: table, table TEMPLATE, json or a Go template')
    .option('--no-trunc', 'do not truncate output')
    .option('-q, --quiet', 'only display container IDs')
    .action(async (flags: { all?: boolean; filter?: string[]; format?: string; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseListFormat(flags.format);
        const filters = parseFilters(flags.filter ?? [], CONTAINER_FILTERS);
        const status = filters.get('status') ?? [];
        for (const s of status) if (!STATES.includes(s)) throw new UsageError(`invalid filter 'status=${s}': want ${STATES.join(', ')}`);
        const list = await api().listContainers({
          ...(filters.get('id') ? { ids: [...(filters.get('id') ?? [])] } : {}),
          ...(filters.get('name') ? { names: [...(filters.get('name') ?? [])] } : {}),
          ...(filters.get('network') ? { networks: [...(filters.get('network') ?? [])] } : {}),
          ...(filters.get('node') ? { nodes: [...(filters.get('node') ?? [])] } : {}),
        });
        const shown = list
          .filter((c: Container) => (status.length > 0 ? status.includes(c.state) : flags.all === true || c.state === 'running'))
          .sort((a, b) => (apiMs(b.createdAt) || 0) - (apiMs(a.createdAt) || 0) || (a.id < b.id ? -1 : 1));
        const names =
          shown.length > 0 && !flags.quiet ? new Map((await api().listNodes()).map((n) => [n.id, nodeName(n)])) : new Map<string, string>();
        const now = ctx.now();
        const rows = shown.map((c) => containerRow(c, now, !flags.trunc, names));
        if (flags.quiet) ctx.out(renderQuiet(rows.map((r) => r['ID'] as string)));
        else ctx.out(renderList(rows, CONTAINER_LIST, format));
      });
    });

  container
    .command('inspect')
    .description('Display detailed information on one or more containers')
    .argument('<container...>', 'container names or IDs')
    .option('-f, --format <format>', 'format output: json or a Go template')
    .action(async (refs: string[], flags: { format?: string }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseInspectFormat(flags.format);
        const found: Container[] = [];
        const errors: string[] = [];
        for (const ref of refs) {
          try {
            found.push(await api().inspectContainer(ref));
          } catch (err) {
            errors.push(errorLine(err));
          }
        }
        const names = found.length > 0 ? new Map((await api().listNodes()).map((n) => [n.id, nodeName(n)])) : new Map<string, string>();
        printInspect(
          ctx,
          found.map((c) => containerInspect(c, names.get(c.nodeId))),
          format,
        );
        for (const e of errors) ctx.err(`${e}\n`);
        return errors.length > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  container
    .command('rm')
    .alias('remove')
    .description('Remove one or more containers')
    .argument('<container...>', 'container names or IDs')
    .option('-f, --force', 'remove running containers too')
    .action(async (refs: string[], flags: { force?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        let failed = 0;
        for (const ref of refs) {
          try {
            await api().removeContainer(ref, flags.force === true);
            ctx.out(`${ref}\n`);
          } catch (err) {
            failed++;
            ctx.err(`${errorLine(err)}\n`);
          }
        }
        return failed > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  finishGroup(container);
}
