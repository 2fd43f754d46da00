/**
 * Standalone containers (on attachable networks) as `docker container inspect` and
 * `docker container ls` show them, reduced to what shoal has: no image, no ports; a
 * command, a node, and network attachments. Inspect keeps Docker's names for what exists
 * (Id, Created, Path, Args, State, Name with its leading slash, Config, NetworkSettings);
 * `Node` says where the container runs (Docker's classic swarm used the same field).
 */
import type { Container } from '../../api/api-types.ts';
import type { ListLayout, Row } from './list.ts';
import { apiMs, apiTime, commandText, goMap, labelMethod, truncId } from './common.ts';
import { asGoMap } from './template.ts';
import { humanDuration, ago } from './time.ts';

function splitAddr(addr: string): [string, number] {
  const slash = addr.indexOf('/');
  return slash < 0 ? [addr, 0] : [addr.slice(0, slash), Number(addr.slice(slash + 1))];
}

export function containerInspect(c: Container, nodeName?: string): Record<string, unknown> {
  const networks: Record<string, unknown> = asGoMap({});
  for (const a of c.networks) {
    const v4 = a.addresses.find((x) => !x.includes(':')) ?? '';
    const v6 = a.addresses.find((x) => x.includes(':')) ?? '';
    const [ip, len] = splitAddr(v4);
    const [ip6, len6] = splitAddr(v6);
    networks[a.networkName || a.networkId] = {
      Aliases: a.aliases,
      NetworkID: a.networkId,
      EndpointID: a.endpointId,
      IPAddress: ip,
      IPPrefixLen: len,
      GlobalIPv6Address: ip6,
      GlobalIPv6PrefixLen: len6,
      MacAddress: a.mac,
    };
  }
  const [path = '', ...args] = c.spec.command;
  return {
    Id: c.id,
    Created: apiTime(c.createdAt),
    Path: path,
    Args: args,
    State: { Status: c.state, Running: c.state === 'running' },
    Name: `/${c.spec.name}`,
    Node: { ID: c.nodeId, Name: nodeName ?? '' },
    Config: { Hostname: c.spec.hostname, Env: c.spec.env, Cmd: c.spec.command, Labels: goMap(c.spec.labels) },
    NetworkSettings: { Networks: networks },
  };
}

export const CONTAINER_LIST: ListLayout = Object.freeze({
  defaultTable: 'table {{.ID}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Node}}\t{{.Networks}}\t{{.Names}}',
  headers: Object.freeze({
    ID: 'CONTAINER ID',
    Command: 'COMMAND',
    CreatedAt: 'CREATED AT',
    RunningFor: 'CREATED',
    Status: 'STATUS',
    State: 'STATE',
    Node: 'NODE',
    Networks: 'NETWORKS',
    Names: 'NAMES',
  }),
});

/** Docker's STATUS words: "Up 5 minutes", "Exited", "Created". */
export function containerStatus(c: Container, nowMs: number): string {
  switch (c.state) {
    case 'running': {
      const since = apiMs(c.updatedAt || c.createdAt);
      return Number.isNaN(since) ? 'Up' : `Up ${humanDuration(Math.max(0, nowMs - since))}`;
    }
    case 'exited':
      return 'Exited';
    case 'created':
      return 'Created';
    default:
      return c.state;
  }
}

export function containerRow(c: Container, nowMs: number, noTrunc: boolean, nodeNames: ReadonlyMap<string, string>): Row {
  const created = apiMs(c.createdAt);
  return {
    ID: truncId(c.id, noTrunc),
    Command: commandText(c.spec.command, noTrunc),
    CreatedAt: apiTime(c.createdAt),
    RunningFor: Number.isNaN(created) ? '' : ago(nowMs, created),
    Status: containerStatus(c, nowMs),
    State: c.state,
    Node: nodeNames.get(c.nodeId) ?? c.nodeId,
    Networks: c.networks.map((n) => n.networkName || n.networkId).join(','),
    Names: c.spec.name,
    Label: labelMethod(c.spec.labels) as (...args: unknown[]) => string,
  };
}
