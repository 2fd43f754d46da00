/**
 * `shoal network create|ls|inspect|rm|prune|connect|disconnect`: Docker's network verbs,
 * flags and output against the manager API. The only driver is overlay (the default, unlike
 * Docker's bridge); every network is swarm-scoped.
 *
 * Commands that take several targets (`inspect a b`, `rm a b c`) act on each, report each
 * failure on its own line and exit 1 if any failed, as Docker does.
 */
import type { Command } from 'commander';
import type { Network } from '../api/api-types.ts';
import { defaultNetworkSpec } from '../api/api-defaults.ts';
import { isNotFound, isShoalError } from '../common/errors.ts';
import type { ApiHandle, CliContext } from './client-options.ts';
import { EXIT_FAILED, EXIT_OK, apiGroup, collect, errorLine, finishGroup, processContext, runCommand } from './client-options.ts';
import { renderList, renderQuiet } from './format/list.ts';
import { inspectJson } from './format/json.ts';
import { NETWORK_LIST, networkInspect, networkRow } from './format/network.ts';
import { executeTemplate } from './format/template.ts';
import { filterBool, matchesLabelFilters, parseFilters } from './parse/filter.ts';
import { parseInspectFormat, parseListFormat } from './parse/format-option.ts';
import type { FormatOption } from './parse/format-option.ts';
import { buildIpamConfigs } from './parse/ipam.ts';
import { auxAddressesToRecord, pairsToRecord, parseAuxAddress, parseLabel, parseOpt } from './parse/key-value.ts';
import { UsageError } from './parse/usage-error.ts';
import { parseTimestampMs } from './parse/timestamp.ts';

const NETWORK_FILTERS = ['driver', 'id', 'label', 'name', 'scope', 'type', 'dangling'] as const;
const PRUNE_FILTERS = ['until', 'label', 'label!'] as const;

/** `network prune --filter`: Docker's until, label and label! (a network must match all). */
export interface PruneFilters {
  any: boolean;
  /** Only networks created before this, ms since the epoch. */
  untilMs: number | undefined;
  labels: readonly string[] | undefined;
  notLabels: readonly string[] | undefined;
}

export function parsePruneFilters(values: readonly string[], nowMs: number): PruneFilters {
  // `label!=k` splits at its first "=" as `label!` and `k`
  const filters = parseFilters(values, PRUNE_FILTERS);
  const until = filters.get('until') ?? [];
  if (until.length > 1) throw new UsageError('network prune takes one until filter');
  return {
    any: values.length > 0,
    untilMs: until[0] === undefined ? undefined : parseTimestampMs(until[0], nowMs, '--filter until'),
    labels: filters.get('label'),
    notLabels: filters.get('label!'),
  };
}

export function pruneMatches(n: Network, f: PruneFilters): boolean {
  if (n.spec.ingress) return false;
  if (f.untilMs !== undefined && !(Date.parse(n.createdAt) < f.untilMs)) return false;
  if (!matchesLabelFilters(n.spec.labels, f.labels)) return false;
  return !(f.notLabels ?? []).some((l) => matchesLabelFilters(n.spec.labels, [l]));
}

/** Prune with filters: each matching network removed on its own; one still in use is kept, as prune keeps it. */
async function pruneMatching(api: ApiHandle, f: PruneFilters): Promise<string[]> {
  const removed: string[] = [];
  for (const n of (await api.listNetworks()).filter((x) => pruneMatches(x, f))) {
    try {
      await api.removeNetwork(n.id);
      removed.push(n.spec.name);
    } catch (err) {
      if (!isShoalError(err, 'SHOAL_ERR_NETWORK_IN_USE') && !isNotFound(err)) throw err;
    }
  }
  return removed.sort();
}

interface CreateFlags {
  driver: string;
  subnet?: string[];
  gateway?: string[];
  ipRange?: string[];
  auxAddress?: string[];
  attachable?: boolean;
  internal?: boolean;
  ipv6?: boolean;
  ingress?: boolean;
  label?: string[];
  opt?: string[];
  scope?: string;
}

/** Natural order of names (`net2` before `net10`), as Docker sorts `network ls`. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Prints inspect output: Docker's JSON array by default, else the format per object. */
export function printInspect(ctx: CliContext, objects: readonly unknown[], format: FormatOption): void {
  if (format.kind === 'default') ctx.out(inspectJson(objects));
  else if (format.kind === 'json') ctx.out(objects.map((o) => `${JSON.stringify(o)}\n`).join(''));
  else if (format.kind === 'template') ctx.out(objects.map((o) => `${executeTemplate(format.template, o)}\n`).join(''));
}

export function registerNetworkCommands(program: Command, ctx: CliContext = processContext()): void {
  const network = apiGroup(program, 'network', 'Manage networks');

  network
    .command('create')
    .description('Create a network')
    .argument('<name>', 'network name')
    .option('-d, --driver <driver>', 'driver to manage the network', 'overlay')
    .option('--subnet <cidr>', 'subnet in CIDR format (repeatable; default: from the default address pool)', collect)
    .option('--gateway <ip>', 'IPv4 or IPv6 gateway of a subnet (repeatable)', collect)
    .option('--ip-range <cidr>', 'allocate task and container addresses from a sub-range (repeatable)', collect)
    .option('--aux-address <name=ip>', 'address the allocator must not hand out (repeatable)', collect)
    .option('--attachable', 'allow standalone containers to attach (shoal container run)')
    .option('--internal', 'restrict external access to the network')
    .option('--ipv6', 'enable IPv6 networking')
    .option('--ingress', 'create a routing-mesh network (refused: the cluster has exactly one, `ingress`)')
    .option('--label <key=value>', 'set metadata on the network (repeatable)', collect)
    .option('-o, --opt <key=value>', 'set driver specific options (repeatable)', collect)
    .option('--scope <scope>', 'network scope (only "swarm")')
    .action(async (name: string, flags: CreateFlags, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        if (flags.scope !== undefined && flags.scope !== 'swarm') {
          throw new UsageError(`invalid argument ${JSON.stringify(flags.scope)} for "--scope" flag: shoal networks are swarm-scoped`);
        }
        const spec = defaultNetworkSpec(name);
        spec.driver = flags.driver;
        spec.subnets = buildIpamConfigs({
          subnets: flags.subnet ?? [],
          gateways: flags.gateway ?? [],
          ipRanges: flags.ipRange ?? [],
          auxAddresses: auxAddressesToRecord((flags.auxAddress ?? []).map((a) => parseAuxAddress(a))),
        });
        spec.attachable = flags.attachable === true;
        spec.internal = flags.internal === true;
        spec.ipv6 = flags.ipv6 === true;
        spec.ingress = flags.ingress === true;
        spec.labels = pairsToRecord((flags.label ?? []).map((l) => parseLabel(l)));
        spec.options = pairsToRecord((flags.opt ?? []).map((o) => parseOpt(o, '--opt')));
        const created = await api().createNetwork(spec);
        ctx.out(`${created.id}\n`);
      });
    });

  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-f, --filter <filter>', 'filter output (driver, id, label, name, scope, type, dangling; repeatable)', collect)
    .option('--format <format>', 'format output: table, table TEMPLATE, json or a Go template')
    .option('--no-trunc', 'do not truncate the output')
    .option('-q, --quiet', 'only display network IDs')
    .action(async (flags: { filter?: string[]; format?: string; trunc: boolean; quiet?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseListFormat(flags.format);
        const filters = parseFilters(flags.filter ?? [], NETWORK_FILTERS);
        const driver = filters.get('driver');
        const networks = await api().listNetworks({
          ...(filters.get('id') ? { ids: [...(filters.get('id') ?? [])] } : {}),
          ...(filters.get('name') ? { names: [...(filters.get('name') ?? [])] } : {}),
        });
        // every swarm network is user-defined: `type=builtin` alone matches none
        const wantsCustom = !filters.get('type') || (filters.get('type') ?? []).some((t) => checkType(t) === 'custom');
        const dangling = filters.get('dangling')?.map((v) => filterBool('dangling', v));
        const shown = networks
          .filter((n) => !driver || driver.includes(n.spec.driver || 'overlay'))
          .filter((n) => matchesLabelFilters(n.spec.labels, filters.get('label')))
          .filter((n) => !filters.get('scope') || (filters.get('scope') ?? []).includes(n.scope || 'swarm'))
          .filter(() => wantsCustom)
          .filter((n) => !dangling || dangling.includes(isDangling(n)))
          .sort((a, b) => naturalCompare(a.spec.name, b.spec.name));
        if (flags.quiet) {
          ctx.out(renderQuiet(shown.map((n) => (flags.trunc ? n.id.slice(0, 12) : n.id))));
          return;
        }
        ctx.out(
          renderList(
            shown.map((n) => networkRow(n, !flags.trunc)),
            NETWORK_LIST,
            format,
          ),
        );
      });
    });

  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>', 'network names or IDs')
    .option('-f, --format <format>', 'format output: json or a Go template')
    .option('-v, --verbose', 'also show the services on the network and their tasks')
    .action(async (names: string[], flags: { format?: string; verbose?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseInspectFormat(flags.format);
        const found: unknown[] = [];
        const errors: string[] = [];
        for (const name of names) {
          try {
            const n = await api().inspectNetwork(name);
            const endpoints = await api().networkEndpoints(n.id);
            found.push(networkInspect(n, endpoints, flags.verbose === true));
          } catch (err) {
            errors.push(errorLine(err));
          }
        }
        printInspect(ctx, found, format);
        for (const e of errors) ctx.err(`${e}\n`);
        return errors.length > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>', 'network names or IDs')
    .option('-f, --force', 'do not fail when a network does not exist')
    .action(async (names: string[], flags: { force?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        let failed = 0;
        for (const name of names) {
          try {
            await api().removeNetwork(name);
            ctx.out(`${name}\n`);
          } catch (err) {
            if (flags.force && isNotFound(err)) continue;
            failed++;
            ctx.err(`${errorLine(err)}\n`);
          }
        }
        return failed > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  network
    .command('prune')
    .description('Remove all networks without services or containers (never ingress)')
    .option(
      '--filter <filter>',
      'provide filter values: until=TIMESTAMP|DURATION (created before), label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable)',
      collect,
    )
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (flags: { force?: boolean; filter?: string[] }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const prune = parsePruneFilters(flags.filter ?? [], ctx.now());
        if (!flags.force) {
          const answer = await ctx.readLine(
            'WARNING! This will remove all custom networks not used by at least one service or container.\nAre you sure you want to continue? [y/N] ',
          );
          if (!/^y(es)?$/i.test((answer ?? '').trim())) {
            throw new UsageError('network prune cancelled: not confirmed (use -f to skip the prompt)');
          }
        }
        const removed = prune.any ? await pruneMatching(api(), prune) : await api().pruneNetworks();
        if (removed.length > 0) ctx.out(`Deleted Networks:\n${removed.map((r) => `${r}\n`).join('')}\n`);
      });
    });

  network
    .command('connect')
    .description('Connect a standalone container to an attachable network')
    .argument('<network>', 'network name or ID')
    .argument('<container>', 'container name or ID')
    .option('--alias <alias>', 'add a network-scoped alias for the container (repeatable)', collect)
    .action(async (networkName: string, container: string, flags: { alias?: string[] }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        await api().connectNetwork(networkName, container, flags.alias ?? []);
      });
    });

  network
    .command('disconnect')
    .description('Disconnect a standalone container from a network')
    .argument('<network>', 'network name or ID')
    .argument('<container>', 'container name or ID')
    .option('-f, --force', 'force the container to disconnect')
    .action(async (networkName: string, container: string, flags: { force?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        await api().disconnectNetwork(networkName, container, flags.force === true);
      });
    });

  finishGroup(network);
}

function checkType(t: string): 'custom' | 'builtin' {
  if (t !== 'custom' && t !== 'builtin') throw new UsageError(`invalid filter 'type=${t}': want custom or builtin`);
  return t;
}

/** A network nothing uses (what prune would remove; ingress never is). */
function isDangling(n: Network): boolean {
  return !n.ingress && n.endpointCount === 0 && n.serviceIds.length === 0;
}
