/**
 * `shoal service create|ls|inspect|ps|logs|scale|update|rm`: Docker's service verbs and flags
 * (`service logs` is in logs.ts, beside `shoal logs`).
 *
 * shoal has no images: a service's tasks run the command given after `--`
 * (`shoal service create --name web -p 8080:80 -- python3 -m http.server 80`). Everything
 * else follows Docker: `create` prints the new service's ID, `update` prints the name it
 * was given, `scale web=5 api=2` reports each service, `ls` prints PORTS as
 * `*:8080->80/tcp`. Flag values are parsed completely before anything is sent, so a bad
 * value changes nothing. `update` reads the service, applies the flags to its spec and
 * sends it back with the version it read, so a concurrent change is refused instead of
 * lost.
 *
 * The command is the task template's `command` followed by its `args` (Docker's
 * ContainerSpec Command and Args). The words after `--` are the whole command line: they go
 * into `command`, and `args` is left empty. `update --args "..."` replaces the arguments
 * and keeps the program: `command` keeps only its program (its first word, or all of it
 * when the spec already has `args` of its own), and `args` becomes the new words. So
 * `-- node server.mjs 80` then `--args "server.mjs 81"` runs `node server.mjs 81`, with
 * Command ["node"] and Args ["server.mjs", "81"].
 */
import type { Command } from 'commander';
import type {
  HealthConfig,
  NetworkAttachmentConfig,
  PortConfig,
  Service,
  ServiceSpec,
  TaskTemplate,
  UpdateConfig,
} from '../api/api-types.ts';
import { defaultServiceSpec } from '../api/api-defaults.ts';
import { ShoalError } from '../common/errors.ts';
import type { CliContext } from './client-options.ts';
import { EXIT_FAILED, EXIT_OK, apiGroup, collect, errorLine, finishGroup, processContext, runCommand } from './client-options.ts';
import { renderList, renderQuiet } from './format/list.ts';
import { SERVICE_LIST, TASK_LIST, serviceInspect, serviceMode, serviceRow } from './format/service.ts';
import { formatDurationNs, parseDurationMs } from './parse/duration.ts';
import { parseFilters } from './parse/filter.ts';
import { parseInspectFormat, parseListFormat } from './parse/format-option.ts';
import { pairsToRecord, parseEnv, parseEnvName, parseLabel } from './parse/key-value.ts';
import { parseRatio, parseUint } from './parse/numbers.ts';
import { parsePublishList, publishRemoveMatches } from './parse/publish.ts';
import type { PortSpec } from './parse/publish.ts';
import { parseScaleArgs } from './parse/scale.ts';
import { UsageError, badFlagValue } from './parse/usage-error.ts';
import { splitWords } from './parse/words.ts';
import { naturalCompare, printInspect } from './network.ts';
import type { TaskPsFlags } from './task-ps.ts';
import { addTaskPsOptions, parseTaskPs, printTaskPs, taskPsRows } from './task-ps.ts';
import { addServiceLogsCommand } from './logs.ts';

/** Flags shared by create and update that shape the task template. */
interface TaskFlags {
  hostname?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthcheck: boolean;
  restartCondition?: string;
  restartDelay?: string;
  restartMaxAttempts?: string;
  updateParallelism?: string;
  updateDelay?: string;
  updateOrder?: string;
  updateFailureAction?: string;
  updateMonitor?: string;
  updateMaxFailureRatio?: string;
  rollbackParallelism?: string;
  rollbackDelay?: string;
  rollbackOrder?: string;
  rollbackFailureAction?: string;
  rollbackMonitor?: string;
  rollbackMaxFailureRatio?: string;
  stopGracePeriod?: string;
  endpointMode?: string;
}

interface CreateFlags extends TaskFlags {
  name?: string;
  replicas?: string;
  mode: string;
  network?: string[];
  publish?: string[];
  env?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  label?: string[];
  containerLabel?: string[];
  quiet?: boolean;
}

interface UpdateFlags extends TaskFlags {
  replicas?: string;
  publishAdd?: string[];
  publishRm?: string[];
  networkAdd?: string[];
  networkRm?: string[];
  envAdd?: string[];
  envRm?: string[];
  labelAdd?: string[];
  labelRm?: string[];
  containerLabelAdd?: string[];
  containerLabelRm?: string[];
  dnsAdd?: string[];
  dnsRm?: string[];
  dnsSearchAdd?: string[];
  dnsSearchRm?: string[];
  dnsOptionAdd?: string[];
  dnsOptionRm?: string[];
  args?: string;
  rollback?: boolean;
  quiet?: boolean;
}

const SERVICE_FILTERS = ['id', 'label', 'mode', 'name'] as const;
const TASK_FILTERS = ['desired-state', 'id', 'label', 'name', 'node'] as const;

// ------------------------------------------------------------------------------ flag parsing

function addTaskOptions(cmd: Command): Command {
  return cmd
    .option('--hostname <name>', 'task host name')
    .option('--health-cmd <command>', 'command to run to check health (run by /bin/sh -c)')
    .option('--health-interval <duration>', 'time between running the check (ms|s|m|h) (default 30s)')
    .option('--health-timeout <duration>', 'maximum time to allow one check to run (ms|s|m|h) (default 30s)')
    .option('--health-retries <n>', 'consecutive failures needed to report unhealthy (default 3)')
    .option('--health-start-period <duration>', 'start period for the task to initialise before failures count (ms|s|m|h) (default 0s)')
    .option('--no-healthcheck', 'disable any health check')
    .option('--restart-condition <condition>', 'restart when condition is met ("none", "on-failure", "any") (default "any")')
    .option('--restart-delay <duration>', 'delay between restart attempts (ns|us|ms|s|m|h) (default 5s)')
    .option('--restart-max-attempts <n>', 'maximum number of restarts before giving up (default 0: unlimited)')
    .option('--update-parallelism <n>', 'maximum number of tasks updated simultaneously (0 to update all at once) (default 1)')
    .option('--update-delay <duration>', 'delay between updates (ns|us|ms|s|m|h) (default 0s)')
    .option('--update-order <order>', 'update order ("start-first", "stop-first") (default "stop-first")')
    .option('--update-failure-action <action>', 'action on update failure ("pause", "continue", "rollback") (default "pause")')
    .option('--update-monitor <duration>', 'duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)')
    .option('--update-max-failure-ratio <ratio>', 'failure rate to tolerate during an update (0 to 1) (default 0)')
    .option('--rollback-parallelism <n>', 'maximum number of tasks rolled back simultaneously (0 to roll back all at once) (default 1)')
    .option('--rollback-delay <duration>', 'delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)')
    .option('--rollback-order <order>', 'rollback order ("start-first", "stop-first") (default "stop-first")')
    .option('--rollback-failure-action <action>', 'action on rollback failure ("pause", "continue") (default "pause")')
    .option('--rollback-monitor <duration>', 'duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) (default 5s)')
    .option('--rollback-max-failure-ratio <ratio>', 'failure rate to tolerate during a rollback (0 to 1) (default 0)')
    .option('--stop-grace-period <duration>', 'time to wait before force killing a task (ns|us|ms|s|m|h) (default 10s)')
    .option('--endpoint-mode <mode>', 'endpoint mode ("vip" or "dnsrr")');
}

function validateMode(mode: string): 'replicated' | 'global' {
  if (mode !== 'replicated' && mode !== 'global') {
    throw new UsageError(`invalid argument ${JSON.stringify(mode)} for "--mode" flag: want replicated or global`);
  }
  return mode;
}

/** `--network front` or Docker's long form `--network name=front,alias=web,alias=www`. */
export function parseNetworkAttachment(text: string, flag = '--network'): NetworkAttachmentConfig {
  if (!text.includes('=')) {
    if (text.trim() === '') throw new UsageError(`invalid argument "" for "${flag}" flag: want a network name or ID`);
    return { target: text, aliases: [] };
  }
  let target = '';
  const aliases: string[] = [];
  for (const field of text.split(',')) {
    const eq = field.indexOf('=');
    const key = eq < 0 ? field : field.slice(0, eq).trim().toLowerCase();
    const value = eq < 0 ? '' : field.slice(eq + 1).trim();
    if (eq < 0 || value === '')
      throw new UsageError(`invalid ${flag} ${JSON.stringify(text)}: field ${JSON.stringify(field)} is not key=value`);
    if (key === 'name' || key === 'target') target = value;
    else if (key === 'alias') aliases.push(value);
    else throw new UsageError(`invalid ${flag} ${JSON.stringify(text)}: unknown field ${JSON.stringify(key)} (want name, alias)`);
  }
  if (target === '') throw new UsageError(`invalid ${flag} ${JSON.stringify(text)}: the network name is missing`);
  return { target, aliases };
}

function toApiPort(p: PortSpec): PortConfig {
  const out: PortConfig = { name: '', protocol: p.protocol, targetPort: p.targetPort, publishMode: p.publishMode };
  if (p.publishedPort !== 0) out.publishedPort = p.publishedPort;
  return out;
}

/** Applies the health flags to `current`; undefined when there is no health check. */
function applyHealth(current: HealthConfig | undefined, flags: TaskFlags, changed: (name: string) => boolean): HealthConfig | undefined {
  const healthFlags = ['healthCmd', 'healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod'].filter(changed);
  if (!flags.healthcheck) {
    if (healthFlags.length > 0) throw new UsageError('--no-healthcheck conflicts with --health-* options');
    return { cmd: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
  }
  if (healthFlags.length === 0) return current;
  const h: HealthConfig = current
    ? { ...current, cmd: [...current.cmd] }
    : { cmd: [], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
  if (flags.healthCmd !== undefined) h.cmd = flags.healthCmd === '' ? [] : ['CMD-SHELL', flags.healthCmd];
  if (flags.healthInterval !== undefined) h.intervalMs = parseDurationMs(flags.healthInterval, '--health-interval');
  if (flags.healthTimeout !== undefined) h.timeoutMs = parseDurationMs(flags.healthTimeout, '--health-timeout');
  if (flags.healthRetries !== undefined) h.retries = parseUint(flags.healthRetries, '--health-retries');
  if (flags.healthStartPeriod !== undefined) h.startPeriodMs = parseDurationMs(flags.healthStartPeriod, '--health-start-period');
  if (h.cmd.length === 0 || h.cmd[0] === 'NONE') {
    throw new UsageError(
      `${healthFlags.map(flagName).join(', ')} need${healthFlags.length === 1 ? 's' : ''} a health check command: give --health-cmd`,
    );
  }
  return h;
}

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

const FAILURE_ACTIONS = { update: ['pause', 'continue', 'rollback'], rollback: ['pause', 'continue'] } as const;

/** The --update-* or --rollback-* flags onto one config (in place). */
function applyUpdateFlags(
  c: UpdateConfig,
  prefix: 'update' | 'rollback',
  f: Record<'parallelism' | 'delay' | 'order' | 'failureAction' | 'monitor' | 'maxFailureRatio', string | undefined>,
): void {
  if (f.parallelism !== undefined) c.parallelism = parseUint(f.parallelism, `--${prefix}-parallelism`);
  if (f.delay !== undefined) c.delayMs = parseDurationMs(f.delay, `--${prefix}-delay`);
  if (f.order !== undefined) {
    if (f.order !== 'stop-first' && f.order !== 'start-first')
      throw badFlagValue(`--${prefix}-order`, f.order, 'want "start-first" or "stop-first"');
    c.order = f.order;
  }
  if (f.failureAction !== undefined) {
    const allowed: readonly string[] = FAILURE_ACTIONS[prefix];
    if (!allowed.includes(f.failureAction)) {
      throw badFlagValue(`--${prefix}-failure-action`, f.failureAction, `want ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    }
    c.failureAction = f.failureAction;
  }
  if (f.monitor !== undefined) c.monitorMs = parseDurationMs(f.monitor, `--${prefix}-monitor`);
  if (f.maxFailureRatio !== undefined) c.maxFailureRatio = parseRatio(f.maxFailureRatio, `--${prefix}-max-failure-ratio`);
}

/** Applies the flags that create and update share to a spec (in place). */
function applyTaskFlags(spec: ServiceSpec, flags: TaskFlags, changed: (name: string) => boolean): void {
  const t: TaskTemplate = spec.taskTemplate;
  if (flags.hostname !== undefined) t.hostname = flags.hostname;
  const health = applyHealth(t.health, flags, changed);
  if (health) t.health = health;
  else delete t.health;
  if (flags.restartCondition !== undefined) t.restartPolicy.condition = flags.restartCondition.toLowerCase();
  if (flags.restartDelay !== undefined) t.restartPolicy.delayMs = parseDurationMs(flags.restartDelay, '--restart-delay');
  if (flags.restartMaxAttempts !== undefined) t.restartPolicy.maxAttempts = parseUint(flags.restartMaxAttempts, '--restart-max-attempts');
  applyUpdateFlags(spec.updateConfig, 'update', {
    parallelism: flags.updateParallelism,
    delay: flags.updateDelay,
    order: flags.updateOrder,
    failureAction: flags.updateFailureAction,
    monitor: flags.updateMonitor,
    maxFailureRatio: flags.updateMaxFailureRatio,
  });
  applyUpdateFlags(spec.rollbackConfig, 'rollback', {
    parallelism: flags.rollbackParallelism,
    delay: flags.rollbackDelay,
    order: flags.rollbackOrder,
    failureAction: flags.rollbackFailureAction,
    monitor: flags.rollbackMonitor,
    maxFailureRatio: flags.rollbackMaxFailureRatio,
  });
  if (flags.stopGracePeriod !== undefined) t.stopGracePeriodMs = parseDurationMs(flags.stopGracePeriod, '--stop-grace-period');
  if (flags.endpointMode !== undefined) spec.endpointSpec.mode = flags.endpointMode.toLowerCase();
}

/** The spec `service create` sends for these flags and command words. */
export function buildCreateSpec(
  flags: CreateFlags,
  command: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  changed: (name: string) => boolean,
): ServiceSpec {
  const mode = validateMode(flags.mode);
  const spec = defaultServiceSpec(flags.name ?? '');
  if (mode === 'global') {
    if (flags.replicas !== undefined) throw new UsageError('replicas can only be used with replicated mode');
    spec.mode = { global: {} };
  } else {
    spec.mode = { replicated: { replicas: flags.replicas === undefined ? 1 : parseUint(flags.replicas, '--replicas') } };
  }
  spec.networks = (flags.network ?? []).map((n) => parseNetworkAttachment(n));
  spec.endpointSpec.ports = parsePublishList(flags.publish ?? []).map(toApiPort);
  spec.taskTemplate.env = (flags.env ?? []).map((e) => parseEnv(e, env));
  spec.taskTemplate.dns = [...(flags.dns ?? [])];
  spec.taskTemplate.dnsSearch = [...(flags.dnsSearch ?? [])];
  spec.taskTemplate.dnsOptions = [...(flags.dnsOption ?? [])];
  spec.labels = pairsToRecord((flags.label ?? []).map((l) => parseLabel(l)));
  spec.taskTemplate.labels = pairsToRecord((flags.containerLabel ?? []).map((l) => parseLabel(l, '--container-label')));
  spec.taskTemplate.command = [...command];
  applyTaskFlags(spec, flags, changed);
  return spec;
}

function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

function addUnique(list: readonly string[], add: readonly string[] | undefined, rm: readonly string[] | undefined): string[] {
  const out = list.filter((x) => !(rm ?? []).includes(x));
  for (const a of add ?? []) if (!out.includes(a)) out.push(a);
  return out;
}

/** What `service update` needs from the manager besides the service itself. */
export interface UpdateLookups {
  /** The ID of a network name or ID (throws the manager's not-found error). */
  networkId(ref: string): Promise<string>;
}

/**
 * The spec `service update` sends: the service's current spec with the flags applied
 * (removals before additions, as Docker applies them).
 */
export async function buildUpdateSpec(
  service: Service,
  flags: UpdateFlags,
  command: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  changed: (name: string) => boolean,
  lookups: UpdateLookups,
): Promise<ServiceSpec> {
  // parse every value first: a bad one must change nothing
  const publishAdd = parsePublishList(flags.publishAdd ?? [], '--publish-add');
  const publishRm = parsePublishList(flags.publishRm ?? [], '--publish-rm');
  const networkAdd = (flags.networkAdd ?? []).map((n) => parseNetworkAttachment(n, '--network-add'));
  const envAdd = (flags.envAdd ?? []).map((e) => parseEnv(e, env, '--env-add'));
  const envRm = (flags.envRm ?? []).map((e) => parseEnvName(e));
  const labelAdd = (flags.labelAdd ?? []).map((l) => parseLabel(l, '--label-add'));
  const containerLabelAdd = (flags.containerLabelAdd ?? []).map((l) => parseLabel(l, '--container-label-add'));
  const replicas = flags.replicas === undefined ? undefined : parseUint(flags.replicas, '--replicas');

  const args = updateArgs(flags, command);

  if (flags.rollback) {
    const others = [...OPTION_KEYS_FOR_UPDATE].filter((k) => k !== 'rollback' && k !== 'quiet' && changed(k));
    if (others.length > 0 || command.length > 0) throw new UsageError('--rollback cannot be combined with other flags');
    if (!service.previousSpec) {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `service ${service.spec.name} does not have a previous spec`);
    }
    return structuredClone(service.previousSpec);
  }

  const spec = structuredClone(service.spec);
  if (replicas !== undefined) {
    if (!spec.mode.replicated) throw new UsageError('replicas can only be used with replicated mode');
    spec.mode = { replicated: { replicas } };
  }

  // ports: match removals against the allocated published ports too
  const allocated = (p: PortConfig): number =>
    p.publishedPort ??
    service.endpoint.ports.find((a) => a.targetPort === p.targetPort && a.protocol === p.protocol && a.publishMode === p.publishMode)
      ?.publishedPort ??
    0;
  let ports = spec.endpointSpec.ports.filter(
    (p) =>
      !publishRm.some((sel) =>
        publishRemoveMatches(sel, {
          protocol: (p.protocol || 'tcp') as PortSpec['protocol'],
          targetPort: p.targetPort,
          publishedPort: allocated(p),
        }),
      ),
  );
  for (const add of publishAdd) {
    const same = (p: PortConfig): boolean =>
      p.targetPort === add.targetPort &&
      (p.protocol || 'tcp') === add.protocol &&
      (p.publishMode || 'ingress') === add.publishMode &&
      (p.publishedPort ?? 0) === add.publishedPort;
    ports = [...ports.filter((p) => !same(p)), toApiPort(add)];
  }
  spec.endpointSpec.ports = ports;

  // networks: the spec holds IDs
  for (const ref of flags.networkRm ?? []) {
    let id = ref;
    try {
      id = await lookups.networkId(ref);
    } catch {
      // a network that no longer exists may still be named by its ID in the spec
    }
    spec.networks = spec.networks.filter((n) => n.target !== id && n.target !== ref);
  }
  for (const add of networkAdd) {
    const id = await lookups.networkId(add.target);
    if (spec.networks.some((n) => n.target === id)) {
      throw new ShoalError('SHOAL_ERR_ALREADY_EXISTS', `service ${service.spec.name} is already attached to network ${add.target}`);
    }
    spec.networks.push({ target: id, aliases: add.aliases });
  }

  const t = spec.taskTemplate;
  t.env = t.env.filter((e) => !envRm.includes(envName(e)) && !envAdd.some((a) => envName(a) === envName(e)));
  t.env.push(...envAdd);
  for (const k of flags.labelRm ?? []) delete spec.labels[k];
  for (const [k, v] of labelAdd) spec.labels[k] = v;
  for (const k of flags.containerLabelRm ?? []) delete t.labels[k];
  for (const [k, v] of containerLabelAdd) t.labels[k] = v;
  t.dns = addUnique(t.dns, flags.dnsAdd, flags.dnsRm);
  t.dnsSearch = addUnique(t.dnsSearch, flags.dnsSearchAdd, flags.dnsSearchRm);
  t.dnsOptions = addUnique(t.dnsOptions, flags.dnsOptionAdd, flags.dnsOptionRm);
  if (command.length > 0) {
    t.command = [...command];
    t.args = [];
  }
  if (args !== undefined) {
    if (t.command.length === 0) {
      throw new ShoalError(
        'SHOAL_ERR_INVALID_ARGUMENT',
        `service ${service.spec.name} has no command to pass --args to: give one after --`,
      );
    }
    t.command = commandProgram(t);
    t.args = args;
  }
  applyTaskFlags(spec, flags, changed);
  return spec;
}

/**
 * `--args` split into words (undefined when not given). A command after `--` replaces the
 * whole command line, so the two together are refused rather than one silently winning.
 */
export function updateArgs(flags: Pick<UpdateFlags, 'args'>, command: readonly string[]): string[] | undefined {
  if (flags.args === undefined) return undefined;
  const words = splitWords(flags.args, '--args');
  if (command.length > 0) throw new UsageError('--args cannot be combined with a command after --: give the arguments in one of them');
  return words;
}

/**
 * The program `--args` keeps. A spec with args of its own has its program (Docker's
 * Command) whole in `command`; without args, `command` is the whole command line (what
 * `--` gives) and its first word is the program, the rest being the arguments replaced.
 */
export function commandProgram(t: Pick<TaskTemplate, 'command' | 'args'>): string[] {
  return t.args.length > 0 ? [...t.command] : t.command.slice(0, 1);
}

const OPTION_KEYS_FOR_UPDATE: readonly string[] = [
  'replicas',
  'publishAdd',
  'publishRm',
  'networkAdd',
  'networkRm',
  'envAdd',
  'envRm',
  'labelAdd',
  'labelRm',
  'containerLabelAdd',
  'containerLabelRm',
  'dnsAdd',
  'dnsRm',
  'dnsSearchAdd',
  'dnsSearchRm',
  'dnsOptionAdd',
  'dnsOptionRm',
  'args',
  'hostname',
  'healthCmd',
  'healthInterval',
  'healthTimeout',
  'healthRetries',
  'healthStartPeriod',
  'healthcheck',
  'restartCondition',
  'restartDelay',
  'restartMaxAttempts',
  'updateParallelism',
  'updateDelay',
  'updateOrder',
  'updateFailureAction',
  'updateMonitor',
  'updateMaxFailureRatio',
  'rollbackParallelism',
  'rollbackDelay',
  'rollbackOrder',
  'rollbackFailureAction',
  'rollbackMonitor',
  'rollbackMaxFailureRatio',
  'stopGracePeriod',
  'endpointMode',
  'rollback',
  'quiet',
];

function changedIn(cmd: Command): (name: string) => boolean {
  return (name) => cmd.getOptionValueSource(name) === 'cli';
}

// ------------------------------------------------------------------------------ pretty

function prettyService(s: Service, networkNames: ReadonlyMap<string, string>): string {
  const lines: string[] = [];
  const add = (label: string, value: string | number): void => void lines.push(`${label.padEnd(16)} ${value}`);
  add('ID:', s.id);
  add('Name:', s.spec.name);
  const labels = Object.keys(s.spec.labels).sort();
  if (labels.length > 0) {
    lines.push('Labels:');
    for (const k of labels) lines.push(` ${k}=${s.spec.labels[k]}`);
  }
  if (s.spec.mode.global) add('Service Mode:', 'Global');
  else {
    add('Service Mode:', 'Replicated');
    add(' Replicas:', s.spec.mode.replicated?.replicas ?? 0);
  }
  if (s.updateStatus.state !== '') {
    lines.push('UpdateStatus:');
    add(' State:', s.updateStatus.state);
    if (s.updateStatus.message) add(' Message:', s.updateStatus.message);
  }
  for (const [title, c] of [
    ['UpdateConfig:', s.spec.updateConfig],
    ['RollbackConfig:', s.spec.rollbackConfig],
  ] as const) {
    lines.push(title);
    add(' Parallelism:', c.parallelism);
    if (c.delayMs) add(' Delay:', formatDurationNs(c.delayMs * 1e6));
    add(' On failure:', c.failureAction);
    add(' Monitoring Period:', formatDurationNs(c.monitorMs * 1e6));
    add(' Max failure ratio:', c.maxFailureRatio);
    add(' Update order:', c.order);
  }
  const t = s.spec.taskTemplate;
  lines.push('ContainerSpec:');
  if (t.command.length > 0) add(' Command:', [...t.command, ...t.args].join(' '));
  if (t.env.length > 0) {
    lines.push(' Env:');
    for (const e of t.env) lines.push(`  ${e}`);
  }
  if (t.hostname) add(' Hostname:', t.hostname);
  if (t.health) {
    lines.push(' Healthcheck:');
    add('  Test:', JSON.stringify(t.health.cmd));
    if (t.health.intervalMs) add('  Interval:', formatDurationNs(t.health.intervalMs * 1e6));
    if (t.health.timeoutMs) add('  Timeout:', formatDurationNs(t.health.timeoutMs * 1e6));
    if (t.health.retries) add('  Retries:', t.health.retries);
  }
  add('Restart Policy:', t.restartPolicy.condition || 'any');
  if (t.stopGracePeriodMs) add('StopGracePeriod:', formatDurationNs(t.stopGracePeriodMs * 1e6));
  if (s.spec.networks.length > 0) add('Networks:', s.spec.networks.map((n) => networkNames.get(n.target) ?? n.target).join(' '));
  add('Endpoint Mode:', s.spec.endpointSpec.mode || 'vip');
  if (s.endpoint.ports.length > 0) {
    lines.push('Ports:');
    for (const p of s.endpoint.ports) {
      lines.push(` PublishedPort = ${p.publishedPort ?? 0}`);
      lines.push(`  Protocol = ${p.protocol || 'tcp'}`);
      lines.push(`  TargetPort = ${p.targetPort}`);
      lines.push(`  PublishMode = ${p.publishMode || 'ingress'}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

// ------------------------------------------------------------------------------ commands

export function registerServiceCommands(program: Command, ctx: CliContext = processContext()): void {
  const service = apiGroup(program, 'service', 'Manage services');

  addTaskOptions(
    service
      .command('create')
      .description('Create a new service; its tasks run COMMAND (give it after --)')
      .argument('[command...]', 'the command each task runs, and its arguments')
      .option('--name <name>', 'service name (default: a generated adjective-noun name, unique in the cluster)')
      .option('--replicas <n>', 'number of tasks (replicated mode) (default 1)')
      .option('--mode <mode>', 'service mode ("replicated" or "global")', 'replicated')
      .option('--network <network>', 'network attachment: NAME or name=NAME,alias=ALIAS (repeatable)', collect)
      .option(
        '-p, --publish <port>',
        'publish a port: [PUBLISHED:]TARGET[/PROTO] or published=,target=,protocol=,mode= (repeatable)',
        collect,
      )
      .option('-e, --env <var>', 'set an environment variable: NAME=value, or NAME to copy it from here (repeatable)', collect)
      .option('--dns <ip>', 'set custom DNS servers (repeatable)', collect)
      .option('--dns-search <domain>', 'set custom DNS search domains (repeatable)', collect)
      .option('--dns-option <option>', 'set DNS options (repeatable)', collect)
      .option('-l, --label <key=value>', 'service labels (repeatable)', collect)
      .option('--container-label <key=value>', 'task labels (repeatable)', collect)
      .option('-d, --detach', 'accepted for Docker compatibility: shoal always returns once the manager accepted the service')
      .option('-q, --quiet', 'accepted for Docker compatibility (there is no progress output to suppress)'),
  ).action(async (command: string[], flags: CreateFlags, cmd: Command) => {
    await runCommand(ctx, cmd, async (api) => {
      const spec = buildCreateSpec(flags, command, ctx.env, changedIn(cmd));
      const created = await api().createService(spec);
      ctx.out(`${created.id}\n`);
    });
  });

  service
    .command('ls')
    .alias('list')
    .description('List services')
    .option('-f, --filter <filter>', 'filter output (id, label, mode, name; repeatable)', collect)
    .option('--format <format>', 'format output: table, table TEMPLATE, json or a Go template')
    .option('-q, --quiet', 'only display IDs')
    .action(async (flags: { filter?: string[]; format?: string; quiet?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseListFormat(flags.format);
        const filters = parseFilters(flags.filter ?? [], SERVICE_FILTERS);
        const modes = filters.get('mode') ?? [];
        for (const m of modes) validateMode(m);
        const services = (
          await api().listServices({
            ...(filters.get('id') ? { ids: [...(filters.get('id') ?? [])] } : {}),
            ...(filters.get('name') ? { names: [...(filters.get('name') ?? [])] } : {}),
            ...(filters.get('label') ? { labels: [...(filters.get('label') ?? [])] } : {}),
          })
        )
          .filter((s) => modes.length === 0 || modes.includes(serviceMode(s.spec)))
          .sort((a, b) => naturalCompare(a.spec.name, b.spec.name));
        const rows = services.map((s) => serviceRow(s));
        if (flags.quiet) ctx.out(renderQuiet(rows.map((r) => r['ID'] as string)));
        else ctx.out(renderList(rows, SERVICE_LIST, format));
      });
    });

  service
    .command('inspect')
    .description('Display detailed information on one or more services')
    .argument('<service...>', 'service names or IDs')
    .option('-f, --format <format>', 'format output: json or a Go template')
    .option('--pretty', 'print the information in a human friendly format')
    .action(async (names: string[], flags: { format?: string; pretty?: boolean }, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const format = parseInspectFormat(flags.format);
        if (flags.pretty && format.kind !== 'default') throw new UsageError('--format is incompatible with human friendly format');
        const found: Service[] = [];
        const errors: string[] = [];
        for (const name of names) {
          try {
            found.push(await api().inspectService(name));
          } catch (err) {
            errors.push(errorLine(err));
          }
        }
        if (flags.pretty) {
          const networks = found.some((s) => s.spec.networks.length > 0)
            ? new Map((await api().listNetworks()).map((n) => [n.id, n.spec.name]))
            : new Map<string, string>();
          ctx.out(found.map((s) => prettyService(s, networks)).join('\n\n'));
        } else {
          printInspect(ctx, found.map(serviceInspect), format);
        }
        for (const e of errors) ctx.err(`${e}\n`);
        return errors.length > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  addTaskPsOptions(
    service.command('ps').description('List the tasks of one or more services').argument('<service...>', 'service names or IDs'),
    TASK_FILTERS,
  ).action(async (names: string[], flags: TaskPsFlags, cmd: Command) => {
    await runCommand(ctx, cmd, async (api) => {
      const { format, filters } = parseTaskPs(flags, TASK_FILTERS);
      const errors: string[] = [];
      const ids: string[] = [];
      for (const name of names) {
        try {
          ids.push((await api().inspectService(name)).id);
        } catch (err) {
          errors.push(errorLine(err));
        }
      }
      const nodeFilter = filters.get('node');
      const select = { services: ids, ...(nodeFilter ? { nodes: [...nodeFilter] } : {}) };
      const rows = ids.length > 0 ? await taskPsRows(api(), select, filters, flags, ctx.now()) : [];
      return printTaskPs(ctx, { rows, errors, quiet: flags.quiet === true, layout: TASK_LIST, format });
    });
  });

  service
    .command('scale')
    .description('Scale one or more replicated services')
    .argument('<service=replicas...>', 'services and their task counts, e.g. web=5 api=2')
    .option('-d, --detach', 'accepted for Docker compatibility: shoal always returns at once')
    .action(async (args: string[], _flags: unknown, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const targets = parseScaleArgs(args);
        let failed = 0;
        for (const t of targets) {
          try {
            await api().scaleService(t.service, t.replicas);
            ctx.out(`${t.service} scaled to ${t.replicas}\n`);
          } catch (err) {
            failed++;
            ctx.err(`${errorLine(err)}\n`);
          }
        }
        return failed > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  addTaskOptions(
    service
      .command('update')
      .description("Update a service; a COMMAND after -- replaces its tasks' command")
      .argument('<service>', 'service name or ID')
      .argument('[command...]', 'new command for the tasks, and its arguments')
      .option('--replicas <n>', 'number of tasks')
      .option('--publish-add <port>', 'add or update a published port (repeatable)', collect)
      .option('--publish-rm <port>', 'remove a published port by its target port, or PUBLISHED:TARGET (repeatable)', collect)
      .option('--network-add <network>', 'attach a network: NAME or name=NAME,alias=ALIAS (repeatable)', collect)
      .option('--network-rm <network>', 'detach a network (repeatable)', collect)
      .option('--env-add <var>', 'add or update an environment variable (repeatable)', collect)
      .option('--env-rm <name>', 'remove an environment variable (repeatable)', collect)
      .option('--label-add <key=value>', 'add or update a service label (repeatable)', collect)
      .option('--label-rm <key>', 'remove a service label (repeatable)', collect)
      .option('--container-label-add <key=value>', 'add or update a task label (repeatable)', collect)
      .option('--container-label-rm <key>', 'remove a task label (repeatable)', collect)
      .option('--dns-add <ip>', 'add a DNS server (repeatable)', collect)
      .option('--dns-rm <ip>', 'remove a DNS server (repeatable)', collect)
      .option('--dns-search-add <domain>', 'add a DNS search domain (repeatable)', collect)
      .option('--dns-search-rm <domain>', 'remove a DNS search domain (repeatable)', collect)
      .option('--dns-option-add <option>', 'add a DNS option (repeatable)', collect)
      .option('--dns-option-rm <option>', 'remove a DNS option (repeatable)', collect)
      .option('--args <args>', 'service command args: replace the arguments, keep the program (split as a shell splits words)')
      .option('--rollback', 'roll back to the previous specification')
      .option('-d, --detach', 'accepted for Docker compatibility: shoal always returns at once')
      .option('-q, --quiet', 'accepted for Docker compatibility'),
  ).action(async (name: string, command: string[], flags: UpdateFlags, cmd: Command) => {
    await runCommand(ctx, cmd, async (api) => {
      // parse what can be parsed without the service, so a bad value never needs the manager
      parsePublishList(flags.publishAdd ?? [], '--publish-add');
      parsePublishList(flags.publishRm ?? [], '--publish-rm');
      updateArgs(flags, command);
      if (flags.replicas !== undefined) parseUint(flags.replicas, '--replicas');
      const current = await api().inspectService(name);
      const spec = await buildUpdateSpec(current, flags, command, ctx.env, changedIn(cmd), {
        networkId: async (ref) => (await api().inspectNetwork(ref)).id,
      });
      await api().updateService(current.id, spec, current.version, flags.rollback ? { rollback: true } : {});
      ctx.out(`${name}\n`);
    });
  });

  service
    .command('rollback')
    .description("Revert changes to a service's configuration (as service update --rollback)")
    .argument('<service>', 'service name or ID')
    .option('-d, --detach', 'accepted for Docker compatibility: shoal always returns at once')
    .option('-q, --quiet', 'accepted for Docker compatibility')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        const current = await api().inspectService(name);
        if (!current.previousSpec) {
          throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `service ${current.spec.name} does not have a previous spec`);
        }
        await api().updateService(current.id, current.previousSpec, current.version, { rollback: true });
        ctx.out(`${name}\n`);
      });
    });

  service
    .command('rm')
    .alias('remove')
    .description('Remove one or more services')
    .argument('<service...>', 'service names or IDs')
    .action(async (names: string[], _flags: unknown, cmd: Command) => {
      await runCommand(ctx, cmd, async (api) => {
        let failed = 0;
        for (const name of names) {
          try {
            await api().removeService(name);
            ctx.out(`${name}\n`);
          } catch (err) {
            failed++;
            ctx.err(`${errorLine(err)}\n`);
          }
        }
        return failed > 0 ? EXIT_FAILED : EXIT_OK;
      });
    });

  addServiceLogsCommand(service, ctx);
  finishGroup(service);
}
