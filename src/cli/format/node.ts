/**
 * Nodes as `docker node inspect` and `docker node ls` show them.
 *
 * `node ls` marks the node the CLI is talking to (the manager's own node) with `*` after
 * its ID, and prints STATUS, AVAILABILITY and MANAGER STATUS in Docker's words (Ready,
 * Active, Leader/Reachable/Unreachable, empty for workers). ENGINE VERSION is the shoal
 * version the node's agent reported.
 */
import type { Node } from '../../api/api-types.ts';
import type { ListLayout, Row } from './list.ts';
import { apiTime, goMap, labelMethod, prettyPrint } from './common.ts';

/** Docker's inspect object of a node. */
export function nodeInspect(n: Node): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (n.spec.name) spec['Name'] = n.spec.name;
  spec['Labels'] = goMap(n.spec.labels);
  spec['Role'] = n.spec.role;
  spec['Availability'] = n.spec.availability;
  const status: Record<string, unknown> = { State: n.status.state };
  if (n.status.message) status['Message'] = n.status.message;
  status['Addr'] = n.status.addr;
  const out: Record<string, unknown> = {
    ID: n.id,
    Version: { Index: n.version },
    CreatedAt: apiTime(n.createdAt),
    UpdatedAt: apiTime(n.updatedAt),
    Spec: spec,
    Description: {
      Hostname: n.description.hostname,
      Platform: { Architecture: n.description.platformArch, OS: n.description.platformOs },
      Engine: { EngineVersion: n.description.version },
      TLSInfo: { CertFingerprint: n.certFingerprint },
    },
    Status: status,
  };
  if (n.managerStatus) {
    const m: Record<string, unknown> = {};
    if (n.managerStatus.leader) m['Leader'] = true;
    m['Reachability'] = n.managerStatus.reachability;
    m['Addr'] = n.managerStatus.addr;
    out['ManagerStatus'] = m;
  }
  return out;
}

export const NODE_LIST: ListLayout = Object.freeze({
  defaultTable:
    'table {{.ID}} {{if .Self}}*{{else}} {{end}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}',
  headers: Object.freeze({
    ID: 'ID',
    Hostname: 'HOSTNAME',
    Status: 'STATUS',
    Availability: 'AVAILABILITY',
    ManagerStatus: 'MANAGER STATUS',
    EngineVersion: 'ENGINE VERSION',
    TLSStatus: 'TLS STATUS',
  }),
});

/** Docker's MANAGER STATUS: Leader, Reachable, Unreachable, or empty for a worker. */
export function managerStatusText(n: Node): string {
  if (!n.managerStatus) return '';
  if (n.managerStatus.leader) return 'Leader';
  return prettyPrint(n.managerStatus.reachability);
}

/** The name `node ls` shows: the spec's name when set, else the host name. */
export function nodeName(n: Node): string {
  return n.spec.name || n.description.hostname;
}

export function nodeRow(n: Node, selfId: string | undefined): Row {
  return {
    ID: n.id,
    Self: n.id === selfId,
    Hostname: nodeName(n),
    Status: prettyPrint(n.status.state),
    Availability: prettyPrint(n.spec.availability),
    ManagerStatus: managerStatusText(n),
    EngineVersion: n.description.version,
    TLSStatus: 'Ready',
    Label: labelMethod(n.spec.labels) as (...args: unknown[]) => string,
  };
}
