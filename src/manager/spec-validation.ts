/**
 * Normalisation and validation of the specs the API receives, before any transaction.
 *
 * Pure: a spec in, the complete spec (Docker's defaults filled into empty fields) out, or
 * a ShoalError naming every problem found (the code is the first problem's). What needs
 * the store (names taken, networks that exist, ports in use, subnets that overlap) is
 * checked inside the transaction, still before anything is written.
 */
import { isIP } from 'node:net';
import { apiError } from '../api/errors.ts';
import type { ApiErrorCode } from '../api/errors.ts';
import type {
  ContainerSpec,
  EndpointSpec,
  HealthConfig,
  IpamConfig,
  NetworkAttachmentConfig,
  NetworkSpec,
  NodeSpec,
  PortConfig,
  ServiceMode,
  ServiceSpec,
  TaskTemplate,
  UpdateConfig,
} from '../api/api-types.ts';
import { defaultRestartPolicy, defaultUpdateConfig } from '../api/api-defaults.ts';

interface Problem {
  code: ApiErrorCode;
  message: string;
}

class Problems {
  readonly list: Problem[] = [];
  add(code: ApiErrorCode, message: string): void {
    this.list.push({ code, message });
  }
  throwIfAny(what: string): void {
    const first = this.list[0];
    if (!first) return;
    const message = this.list.length === 1 ? first.message : `invalid ${what}: ${this.list.map((p) => p.message).join('; ')}`;
    throw apiError(first.code, message, { problems: this.list.map((p) => p.message) });
  }
}

/** Docker's rule for object names: a letter or digit, then letters, digits, `_`, `.`, `-`. */
const OBJECT_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Service names are DNS labels (they are resolvable names on their networks). */
const SERVICE_NAME_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const ALIAS_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,253})$/;
const MAX_NAME = 128;
export const MAX_REPLICAS = 1_000_000;

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map((x) => String(x)) : [];
}
function record(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v !== null && typeof v === 'object') for (const [k, val] of Object.entries(v)) out[k] = String(val);
  return out;
}
function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function checkLabels(p: Problems, labels: Record<string, string>, what: string): void {
  for (const key of Object.keys(labels)) {
    if (key === '' || /\s/.test(key))
      p.add('SHOAL_ERR_BAD_SPEC', `${what} key ${JSON.stringify(key)} is not valid (no empty keys or whitespace)`);
  }
}

// ------------------------------------------------------------------------------ networks

export function normalizeNetworkSpec(input: Partial<NetworkSpec> | undefined): NetworkSpec {
  const s = input ?? {};
  const p = new Problems();
  const name = str(s.name);
  if (name === '') p.add('SHOAL_ERR_BAD_NAME', 'a network name is required');
  else if (name.length > MAX_NAME || !OBJECT_NAME_RE.test(name)) {
    p.add(
      'SHOAL_ERR_BAD_NAME',
      `network name ${JSON.stringify(name)} is not valid: use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  const driver = str(s.driver) === '' ? 'overlay' : str(s.driver);
  if (driver !== 'overlay') p.add('SHOAL_ERR_BAD_DRIVER', `network driver ${JSON.stringify(driver)} is not supported (only "overlay")`);
  const subnets: IpamConfig[] = (Array.isArray(s.subnets) ? s.subnets : []).map((c) => {
    const cfg: IpamConfig = { subnet: str(c?.subnet).trim(), auxAddresses: record(c?.auxAddresses) };
    if (c?.gateway !== undefined && c.gateway !== '') cfg.gateway = str(c.gateway).trim();
    if (c?.ipRange !== undefined && c.ipRange !== '') cfg.ipRange = str(c.ipRange).trim();
    return cfg;
  });
  for (const c of subnets) {
    if (c.subnet === '' && (c.gateway !== undefined || c.ipRange !== undefined || Object.keys(c.auxAddresses).length > 0)) {
      p.add('SHOAL_ERR_BAD_SPEC', 'a gateway, ip-range or aux-address needs a --subnet');
    }
  }
  const labels = record(s.labels);
  const options = record(s.options);
  checkLabels(p, labels, 'label');
  checkLabels(p, options, 'option');
  p.throwIfAny('network spec');
  return {
    name,
    driver,
    subnets: subnets.filter((c) => c.subnet !== ''),
    attachable: s.attachable === true,
    internal: s.internal === true,
    ipv6: s.ipv6 === true,
    labels,
    options,
    ingress: s.ingress === true,
  };
}

// ------------------------------------------------------------------------------ services

function normalizeMode(p: Problems, m: ServiceMode | undefined): ServiceMode {
  const hasReplicated = m?.replicated !== undefined && m.replicated !== null;
  const hasGlobal = m?.global !== undefined && m.global !== null;
  if (hasReplicated && hasGlobal) {
    p.add('SHOAL_ERR_BAD_SPEC', 'a service is either replicated or global, not both');
    return { replicated: { replicas: 1 } };
  }
  if (hasGlobal) return { global: {} };
  const replicas = hasReplicated ? m!.replicated!.replicas : 1;
  if (!Number.isInteger(replicas) || replicas < 0)
    p.add('SHOAL_ERR_BAD_SPEC', `replicas must be a whole number >= 0 (got ${String(replicas)})`);
  else if (replicas > MAX_REPLICAS) p.add('SHOAL_ERR_BAD_SPEC', `replicas ${replicas} is more than ${MAX_REPLICAS}`);
  return { replicated: { replicas: Number.isInteger(replicas) && replicas >= 0 ? replicas : 0 } };
}

function nonNegative(p: Problems, value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0) {
    p.add('SHOAL_ERR_BAD_SPEC', `${what} must be >= 0 (got ${value})`);
    return 0;
  }
  return value;
}

function normalizeHealth(p: Problems, h: HealthConfig | undefined): HealthConfig | undefined {
  if (!h) return undefined;
  const cmd = strings(h.cmd);
  if (cmd.length > 0 && !['CMD', 'CMD-SHELL', 'NONE'].includes(cmd[0]!)) {
    p.add('SHOAL_ERR_BAD_SPEC', `health check test must start with CMD, CMD-SHELL or NONE (got ${JSON.stringify(cmd[0])})`);
  }
  return {
    cmd,
    intervalMs: nonNegative(p, int(h.intervalMs), 'health interval'),
    timeoutMs: nonNegative(p, int(h.timeoutMs), 'health timeout'),
    retries: nonNegative(p, int(h.retries), 'health retries'),
    startPeriodMs: nonNegative(p, int(h.startPeriodMs), 'health start period'),
  };
}

function normalizeTaskTemplate(p: Problems, t: Partial<TaskTemplate> | undefined): TaskTemplate {
  const s = t ?? {};
  const defaults = defaultRestartPolicy();
  const rp = s.restartPolicy;
  const condition = str(rp?.condition) === '' ? defaults.condition : str(rp?.condition);
  if (!['none', 'on-failure', 'any'].includes(condition)) {
    p.add('SHOAL_ERR_BAD_SPEC', `restart condition ${JSON.stringify(condition)} is not one of none, on-failure, any`);
  }
  const env = strings(s.env);
  for (const e of env)
    if (e === '' || e.startsWith('=')) p.add('SHOAL_ERR_BAD_SPEC', `environment entry ${JSON.stringify(e)} is not KEY=VALUE`);
  const dns = strings(s.dns);
  for (const d of dns) if (isIP(d) === 0) p.add('SHOAL_ERR_BAD_SPEC', `DNS server ${JSON.stringify(d)} is not an IP address`);
  const hostname = str(s.hostname);
  if (hostname.length > 253) p.add('SHOAL_ERR_BAD_SPEC', 'hostname is longer than 253 characters');
  const health = normalizeHealth(p, s.health);
  const template: TaskTemplate = {
    command: strings(s.command),
    args: strings(s.args),
    env,
    hostname,
    dns,
    dnsSearch: strings(s.dnsSearch),
    dnsOptions: strings(s.dnsOptions),
    restartPolicy: {
      condition,
      delayMs: rp?.delayMs === undefined ? defaults.delayMs : nonNegative(p, int(rp.delayMs), 'restart delay'),
      maxAttempts: nonNegative(p, int(rp?.maxAttempts), 'restart max attempts'),
    },
    stopGracePeriodMs: s.stopGracePeriodMs === undefined ? 10_000 : nonNegative(p, int(s.stopGracePeriodMs), 'stop grace period'),
    labels: record(s.labels),
  };
  if (health) template.health = health;
  checkLabels(p, template.labels, 'container label');
  return template;
}

function normalizeAttachments(p: Problems, list: NetworkAttachmentConfig[] | undefined, what: string): NetworkAttachmentConfig[] {
  const out: NetworkAttachmentConfig[] = [];
  for (const a of Array.isArray(list) ? list : []) {
    const target = str(a?.target).trim();
    if (target === '') {
      p.add('SHOAL_ERR_BAD_SPEC', `${what}: a network name or ID is required`);
      continue;
    }
    const aliases = strings(a?.aliases);
    for (const alias of aliases)
      if (!ALIAS_RE.test(alias)) p.add('SHOAL_ERR_BAD_SPEC', `network alias ${JSON.stringify(alias)} is not a valid DNS name`);
    out.push({ target, aliases });
  }
  return out;
}

function normalizePorts(p: Problems, e: EndpointSpec | undefined): EndpointSpec {
  const mode = str(e?.mode) === '' ? 'vip' : str(e?.mode);
  if (mode !== 'vip' && mode !== 'dnsrr') p.add('SHOAL_ERR_BAD_SPEC', `endpoint mode ${JSON.stringify(mode)} is not vip or dnsrr`);
  const ports: PortConfig[] = [];
  const seen = new Set<string>();
  for (const port of Array.isArray(e?.ports) ? e!.ports : []) {
    const protocol = str(port?.protocol) === '' ? 'tcp' : str(port?.protocol).toLowerCase();
    const publishMode = str(port?.publishMode) === '' ? 'ingress' : str(port?.publishMode);
    const targetPort = int(port?.targetPort);
    if (!['tcp', 'udp', 'sctp'].includes(protocol))
      p.add('SHOAL_ERR_BAD_PORT', `protocol ${JSON.stringify(protocol)} is not tcp, udp or sctp`);
    if (publishMode !== 'ingress' && publishMode !== 'host')
      p.add('SHOAL_ERR_BAD_PORT', `publish mode ${JSON.stringify(publishMode)} is not ingress or host`);
    if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535)
      p.add('SHOAL_ERR_BAD_PORT', `target port ${targetPort} is out of range 1-65535`);
    const out: PortConfig = { name: str(port?.name), protocol, targetPort, publishMode };
    if (port?.publishedPort !== undefined && port.publishedPort !== 0) {
      const pub = int(port.publishedPort);
      if (!Number.isInteger(pub) || pub < 1 || pub > 65535) p.add('SHOAL_ERR_BAD_PORT', `published port ${pub} is out of range 1-65535`);
      out.publishedPort = pub;
      const key = `${pub}/${protocol}`;
      if (seen.has(key)) p.add('SHOAL_ERR_PORT_IN_USE', `published port ${key} is given twice`);
      seen.add(key);
    }
    if (mode === 'dnsrr' && publishMode === 'ingress') {
      p.add(
        'SHOAL_ERR_DNSRR_INGRESS_PORT',
        `port ${out.publishedPort ?? '(auto)'}:${targetPort}/${protocol} is published in ingress mode, which endpoint mode dnsrr does not support (use mode=host)`,
      );
    }
    ports.push(out);
  }
  return { mode, ports };
}

const FAILURE_ACTIONS: Record<'update' | 'rollback', readonly string[]> = {
  update: ['pause', 'continue', 'rollback'],
  rollback: ['pause', 'continue'],
};

/** An update or rollback config with Docker's defaults in its empty fields ("" and absent). */
function normalizeUpdateConfig(p: Problems, u: Partial<UpdateConfig> | undefined, what: 'update' | 'rollback'): UpdateConfig {
  const d = defaultUpdateConfig();
  const failureAction = str(u?.failureAction) === '' ? d.failureAction : str(u?.failureAction);
  if (!FAILURE_ACTIONS[what].includes(failureAction)) {
    p.add(
      'SHOAL_ERR_BAD_SPEC',
      `${what} failure action ${JSON.stringify(failureAction)} is not ${FAILURE_ACTIONS[what].join(', ').replace(/, ([^,]*)$/, ' or $1')}`,
    );
  }
  const order = str(u?.order) === '' ? d.order : str(u?.order);
  if (order !== 'stop-first' && order !== 'start-first')
    p.add('SHOAL_ERR_BAD_SPEC', `${what} order ${JSON.stringify(order)} is not stop-first or start-first`);
  const ratio = u?.maxFailureRatio === undefined ? 0 : u.maxFailureRatio;
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1)
    p.add('SHOAL_ERR_BAD_SPEC', `${what} max failure ratio must be between 0 and 1 (got ${String(ratio)})`);
  return {
    parallelism: u?.parallelism === undefined ? d.parallelism : nonNegative(p, int(u.parallelism), `${what} parallelism`),
    delayMs: nonNegative(p, int(u?.delayMs), `${what} delay`),
    failureAction,
    monitorMs: u?.monitorMs === undefined ? d.monitorMs : nonNegative(p, int(u.monitorMs), `${what} monitor`),
    maxFailureRatio: typeof ratio === 'number' && Number.isFinite(ratio) ? Math.min(1, Math.max(0, ratio)) : 0,
    order,
  };
}

/**
 * A service spec checked and completed. `nameOptional` lets the name be empty (a create
 * without --name: the manager then picks one in the create's transaction).
 */
export function normalizeServiceSpec(input: Partial<ServiceSpec> | undefined, opts: { nameOptional?: boolean } = {}): ServiceSpec {
  const s = input ?? {};
  const p = new Problems();
  const name = str(s.name);
  if (name === '') {
    if (opts.nameOptional !== true) p.add('SHOAL_ERR_BAD_NAME', 'a service name is required (--name)');
  } else if (!SERVICE_NAME_RE.test(name)) {
    p.add(
      'SHOAL_ERR_BAD_NAME',
      `service name ${JSON.stringify(name)} is not valid: use letters, digits and "-" (a DNS label of at most 63 characters)`,
    );
  }
  const labels = record(s.labels);
  checkLabels(p, labels, 'label');
  const mode = normalizeMode(p, s.mode);
  const taskTemplate = normalizeTaskTemplate(p, s.taskTemplate);
  const networks = normalizeAttachments(p, s.networks, 'service network');
  const endpointSpec = normalizePorts(p, s.endpointSpec);
  const updateConfig = normalizeUpdateConfig(p, s.updateConfig, 'update');
  const rollbackConfig = normalizeUpdateConfig(p, s.rollbackConfig, 'rollback');
  p.throwIfAny('service spec');
  return { name, labels, mode, taskTemplate, networks, endpointSpec, updateConfig, rollbackConfig };
}

// ------------------------------------------------------------------------------ containers

export function normalizeContainerSpec(input: Partial<ContainerSpec> | undefined): ContainerSpec {
  const s = input ?? {};
  const p = new Problems();
  const name = str(s.name);
  if (name !== '' && (name.length > MAX_NAME || !OBJECT_NAME_RE.test(name))) {
    p.add(
      'SHOAL_ERR_BAD_NAME',
      `container name ${JSON.stringify(name)} is not valid: use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  const networks = normalizeAttachments(p, s.networks, 'container network');
  const env = strings(s.env);
  for (const e of env)
    if (e === '' || e.startsWith('=')) p.add('SHOAL_ERR_BAD_SPEC', `environment entry ${JSON.stringify(e)} is not KEY=VALUE`);
  const labels = record(s.labels);
  checkLabels(p, labels, 'label');
  const dns = strings(s.dns);
  for (const d of dns) if (isIP(d) === 0) p.add('SHOAL_ERR_BAD_SPEC', `DNS server ${JSON.stringify(d)} is not an IP address`);
  const hostname = str(s.hostname);
  if (hostname.length > 253) p.add('SHOAL_ERR_BAD_SPEC', 'hostname is longer than 253 characters');
  p.throwIfAny('container spec');
  return {
    name,
    networks,
    node: str(s.node),
    command: strings(s.command),
    hostname,
    env,
    labels,
    dns,
    dnsSearch: strings(s.dnsSearch),
    dnsOptions: strings(s.dnsOptions),
  };
}

// ------------------------------------------------------------------------------ nodes

export function normalizeNodeSpec(input: Partial<NodeSpec> | undefined): NodeSpec {
  const s = input ?? {};
  const p = new Problems();
  const role = str(s.role) === '' ? 'worker' : str(s.role);
  const availability = str(s.availability) === '' ? 'active' : str(s.availability);
  if (role !== 'worker' && role !== 'manager') p.add('SHOAL_ERR_BAD_SPEC', `node role ${JSON.stringify(role)} is not worker or manager`);
  if (!['active', 'pause', 'drain'].includes(availability))
    p.add('SHOAL_ERR_BAD_SPEC', `node availability ${JSON.stringify(availability)} is not active, pause or drain`);
  const name = str(s.name);
  if (name !== '' && (name.length > MAX_NAME || !OBJECT_NAME_RE.test(name)))
    p.add('SHOAL_ERR_BAD_NAME', `node name ${JSON.stringify(name)} is not valid`);
  const labels = record(s.labels);
  checkLabels(p, labels, 'label');
  p.throwIfAny('node spec');
  return { name, labels, role, availability };
}
