/**
 * Services and their tasks as `docker service inspect`, `docker service ls` and
 * `docker service ps` show them.
 *
 * Inspect keeps Docker's shape: ID, Version{Index}, CreatedAt, UpdatedAt, Spec{Name,
 * Labels, TaskTemplate{ContainerSpec, RestartPolicy, Networks}, Mode, UpdateConfig, RollbackConfig,
 * EndpointSpec}, PreviousSpec, Endpoint{Spec, Ports, VirtualIPs}, UpdateStatus. Durations
 * are nanoseconds and empty fields are left out where Docker's structs say `omitempty`.
 * shoal has no images: the task's command is ContainerSpec.Command and there is no Image.
 * ServiceStatus (running/desired tasks) is always included; Docker adds it only on request.
 *
 * `service ls` PORTS is Docker's text of the ingress-mode ports: `*:8080->80/tcp`, runs of
 * consecutive ports merged into ranges (`*:8080-8081->80-81/tcp`), joined by ", ".
 */
import type { HealthConfig, PortConfig, Service, ServiceSpec, Task, TaskTemplate } from '../../api/api-types.ts';
import type { ListLayout, Row } from './list.ts';
import { apiMs, apiTime, commandText, goMap, labelMethod, msToNs, prettyPrint, truncId } from './common.ts';
import { ago } from './time.ts';

export interface DockerPortConfig {
  Name?: string;
  Protocol?: string;
  TargetPort?: number;
  PublishedPort?: number;
  PublishMode?: string;
}

function dockerPort(p: PortConfig): DockerPortConfig {
  const out: DockerPortConfig = {};
  if (p.name) out.Name = p.name;
  out.Protocol = p.protocol || 'tcp';
  if (p.targetPort) out.TargetPort = p.targetPort;
  if (p.publishedPort) out.PublishedPort = p.publishedPort;
  out.PublishMode = p.publishMode || 'ingress';
  return out;
}

function healthcheck(h: HealthConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { Test: h.cmd };
  if (h.intervalMs) out['Interval'] = msToNs(h.intervalMs);
  if (h.timeoutMs) out['Timeout'] = msToNs(h.timeoutMs);
  if (h.startPeriodMs) out['StartPeriod'] = msToNs(h.startPeriodMs);
  if (h.retries) out['Retries'] = h.retries;
  return out;
}

/** Docker's ContainerSpec of a task template (the fields shoal has). */
export function containerSpec(t: TaskTemplate): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (Object.keys(t.labels).length > 0) out['Labels'] = goMap(t.labels);
  if (t.command.length > 0) out['Command'] = t.command;
  if (t.args.length > 0) out['Args'] = t.args;
  if (t.hostname) out['Hostname'] = t.hostname;
  if (t.env.length > 0) out['Env'] = t.env;
  if (t.stopGracePeriodMs) out['StopGracePeriod'] = msToNs(t.stopGracePeriodMs);
  if (t.health) out['Healthcheck'] = healthcheck(t.health);
  if (t.dns.length > 0 || t.dnsSearch.length > 0 || t.dnsOptions.length > 0) {
    const dns: Record<string, unknown> = {};
    if (t.dns.length > 0) dns['Nameservers'] = t.dns;
    if (t.dnsSearch.length > 0) dns['Search'] = t.dnsSearch;
    if (t.dnsOptions.length > 0) dns['Options'] = t.dnsOptions;
    out['DNSConfig'] = dns;
  }
  return out;
}

function endpointSpec(spec: ServiceSpec['endpointSpec']): Record<string, unknown> {
  const out: Record<string, unknown> = { Mode: spec.mode || 'vip' };
  if (spec.ports.length > 0) out['Ports'] = spec.ports.map(dockerPort);
  return out;
}

/** Docker's ServiceSpec. */
export function serviceSpec(s: ServiceSpec): Record<string, unknown> {
  const restart: Record<string, unknown> = { Condition: s.taskTemplate.restartPolicy.condition || 'any' };
  restart['Delay'] = msToNs(s.taskTemplate.restartPolicy.delayMs);
  restart['MaxAttempts'] = s.taskTemplate.restartPolicy.maxAttempts;
  const taskTemplate: Record<string, unknown> = { ContainerSpec: containerSpec(s.taskTemplate), RestartPolicy: restart };
  if (s.networks.length > 0) {
    taskTemplate['Networks'] = s.networks.map((n) =>
      n.aliases.length > 0 ? { Target: n.target, Aliases: n.aliases } : { Target: n.target },
    );
  }
  const mode = s.mode.global ? { Global: {} } : { Replicated: { Replicas: s.mode.replicated?.replicas ?? 0 } };
  return {
    Name: s.name,
    Labels: goMap(s.labels),
    TaskTemplate: taskTemplate,
    Mode: mode,
    UpdateConfig: updateConfig(s.updateConfig),
    RollbackConfig: updateConfig(s.rollbackConfig),
    EndpointSpec: endpointSpec(s.endpointSpec),
  };
}

/** Docker's UpdateConfig (and RollbackConfig): durations in ns, Delay and Monitor omitted when 0. */
function updateConfig(c: ServiceSpec['updateConfig']): Record<string, unknown> {
  const out: Record<string, unknown> = { Parallelism: c.parallelism };
  if (c.delayMs) out['Delay'] = msToNs(c.delayMs);
  out['FailureAction'] = c.failureAction || 'pause';
  if (c.monitorMs) out['Monitor'] = msToNs(c.monitorMs);
  out['MaxFailureRatio'] = c.maxFailureRatio;
  out['Order'] = c.order || 'stop-first';
  return out;
}

/** Docker's inspect object of a service. */
export function serviceInspect(s: Service): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ID: s.id,
    Version: { Index: s.version },
    CreatedAt: apiTime(s.createdAt),
    UpdatedAt: apiTime(s.updatedAt),
    Spec: serviceSpec(s.spec),
  };
  if (s.previousSpec) out['PreviousSpec'] = serviceSpec(s.previousSpec);
  const endpoint: Record<string, unknown> = { Spec: endpointSpec(s.endpoint.spec) };
  if (s.endpoint.ports.length > 0) endpoint['Ports'] = s.endpoint.ports.map(dockerPort);
  if (s.endpoint.virtualIps.length > 0)
    endpoint['VirtualIPs'] = s.endpoint.virtualIps.map((v) => ({ NetworkID: v.networkId, Addr: v.addr }));
  out['Endpoint'] = endpoint;
  if (s.updateStatus.state !== '') {
    const u: Record<string, unknown> = { State: s.updateStatus.state };
    if (s.updateStatus.startedAt) u['StartedAt'] = apiTime(s.updateStatus.startedAt);
    if (s.updateStatus.completedAt) u['CompletedAt'] = apiTime(s.updateStatus.completedAt);
    u['Message'] = s.updateStatus.message;
    out['UpdateStatus'] = u;
  }
  out['ServiceStatus'] = { RunningTasks: s.serviceStatus.runningTasks, DesiredTasks: s.serviceStatus.desiredTasks };
  return out;
}

// ------------------------------------------------------------------------------ ports text

/** Docker's PORTS text of a list of ports: `*:8080->80/tcp, *:30000-30001->53-54/udp`. */
export function portsText(ports: readonly PortConfig[], mode: 'ingress' | 'host' = 'ingress'): string {
  const chosen = ports
    .filter((p) => (p.publishMode || 'ingress') === mode)
    .map((p) => ({ protocol: p.protocol || 'tcp', target: p.targetPort, published: p.publishedPort ?? 0 }))
    .sort((a, b) => (a.protocol === b.protocol ? a.published - b.published || a.target - b.target : a.protocol < b.protocol ? -1 : 1));
  const out: string[] = [];
  let i = 0;
  while (i < chosen.length) {
    const first = chosen[i] as (typeof chosen)[number];
    let j = i;
    while (j + 1 < chosen.length) {
      const cur = chosen[j] as (typeof chosen)[number];
      const next = chosen[j + 1] as (typeof chosen)[number];
      if (next.protocol !== first.protocol || next.published !== cur.published + 1 || next.target !== cur.target + 1 || cur.published === 0)
        break;
      j++;
    }
    const last = chosen[j] as (typeof chosen)[number];
    const pub =
      first.published === 0 ? '' : first.published === last.published ? `${first.published}` : `${first.published}-${last.published}`;
    const tgt = first.target === last.target ? `${first.target}` : `${first.target}-${last.target}`;
    out.push(`*:${pub}->${tgt}/${first.protocol}`);
    i = j + 1;
  }
  return out.join(', ');
}

// ------------------------------------------------------------------------------ service ls

export const SERVICE_LIST: ListLayout = Object.freeze({
  defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Ports}}',
  headers: Object.freeze({ ID: 'ID', Name: 'NAME', Mode: 'MODE', Replicas: 'REPLICAS', Command: 'COMMAND', Ports: 'PORTS' }),
});

export function serviceMode(s: ServiceSpec): 'replicated' | 'global' {
  return s.mode.global ? 'global' : 'replicated';
}

export function serviceRow(s: Service, noTrunc = false): Row {
  return {
    ID: truncId(s.id, noTrunc),
    Name: s.spec.name,
    Mode: serviceMode(s.spec),
    Replicas: `${s.serviceStatus.runningTasks}/${s.serviceStatus.desiredTasks}`,
    Command:
      s.spec.taskTemplate.command.length > 0 ? commandText([...s.spec.taskTemplate.command, ...s.spec.taskTemplate.args], noTrunc) : '',
    Ports: portsText(s.endpoint.ports),
    Label: labelMethod(s.spec.labels) as (...args: unknown[]) => string,
  };
}

// ------------------------------------------------------------------------------ service ps

export const TASK_LIST: ListLayout = Object.freeze({
  defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}',
  headers: Object.freeze({
    ID: 'ID',
    Name: 'NAME',
    Node: 'NODE',
    DesiredState: 'DESIRED STATE',
    CurrentState: 'CURRENT STATE',
    Error: 'ERROR',
    Ports: 'PORTS',
  }),
});

/**
 * `node ps`: Docker's columns, with the task's command where Docker shows its image
 * (`{{.Image}}` names the same text, so Docker's templates keep working).
 */
export const NODE_TASK_LIST: ListLayout = Object.freeze({
  defaultTable: 'table {{.ID}}\t{{.Name}}\t{{.Command}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}',
  headers: Object.freeze({ ...TASK_LIST.headers, Command: 'COMMAND', Image: 'COMMAND' }),
});

/** Docker truncates task errors to 30 characters in tables. */
const MAX_ERROR_LENGTH = 30;

/** The slot name of a task: `web.1` (replicated) or `web.<node id>` (global). */
export function taskSlotName(t: Task): string {
  if (t.slot > 0) return `${t.serviceName}.${t.slot}`;
  return `${t.serviceName}.${t.nodeId}`;
}

/**
 * Orders tasks as `docker service ps` does: by service name, then slot (or node), newest
 * first within a slot; every task after the first of its slot is history, shown as
 * ` \_ web.1`.
 */
export function orderTasks(tasks: readonly Task[]): { task: Task; history: boolean }[] {
  const key = (t: Task): string => `${t.serviceName}\u0000${t.slot > 0 ? String(t.slot).padStart(10, '0') : `~${t.nodeId}`}`;
  const sorted = [...tasks].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka !== kb) return ka < kb ? -1 : 1;
    return (apiMs(b.createdAt) || 0) - (apiMs(a.createdAt) || 0) || (a.id < b.id ? -1 : 1);
  });
  return sorted.map((task, i) => ({ task, history: i > 0 && key(sorted[i - 1] as Task) === key(task) }));
}

export interface TaskRowContext {
  readonly nowMs: number;
  readonly noTrunc: boolean;
  /** Node ID -> host name (`--no-resolve` leaves IDs). */
  readonly nodeNames: ReadonlyMap<string, string>;
}

export function taskRow(t: Task, history: boolean, ctx: TaskRowContext): Row {
  const name = taskSlotName(t);
  const since = apiMs(t.status.timestamp || t.updatedAt || t.createdAt);
  let err = t.status.err;
  if (!ctx.noTrunc && [...err].length > MAX_ERROR_LENGTH) err = `${[...err].slice(0, MAX_ERROR_LENGTH - 1).join('')}…`;
  const words = [...t.spec.command, ...t.spec.args];
  const command = words.length > 0 ? commandText(words, ctx.noTrunc) : '';
  return {
    ID: truncId(t.id, ctx.noTrunc),
    Name: history ? ` \\_ ${name}` : name,
    Node: t.nodeId === '' ? '' : (ctx.nodeNames.get(t.nodeId) ?? t.nodeId),
    DesiredState: prettyPrint(t.desiredState),
    CurrentState: `${prettyPrint(t.status.state)} ${Number.isNaN(since) ? '' : ago(ctx.nowMs, since).toLowerCase()}`.trimEnd(),
    Error: err === '' ? '' : `"${err}"`,
    Ports: portsText(t.hostPorts, 'host'),
    Command: command,
    Image: command,
  };
}
