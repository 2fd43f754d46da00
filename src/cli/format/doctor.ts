/**
 * `shoal doctor`'s output, from one result per node (api-types.ts NodeDoctor: the node's
 * report, or why it was not checked). Pure.
 *
 * Text: when every node is checked and clean, one line and nothing else:
 *
 *   clean: no differences on 3 nodes
 *
 * Otherwise each node that differs or was not checked, its differences grouped by object
 * kind (netns, link, addr, route, neigh, fdb, sysctl, nft, dns, task, in that order), one
 * line each (`+` the kernel lacks it, `-` the kernel has it and should not, `~` it differs),
 * then a count:
 *
 *   h2 (4k2j9x0c1m3p)
 *     neigh
 *       + neigh sd1-h2-ov-8f1c2a9e4b7d 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vx4097 permanent
 *   h3 (7q0w2e4r6t8y)
 *     not checked: the agent of node h3 is not connected to the manager (SHOAL_ERR_AGENT_UNAVAILABLE)
 *   1 difference on 1 node; 1 node not checked
 *
 * A repair lists, per node, what it repaired, what it did not apply (`not repaired`, each
 * with its code) and what still differs after it.
 *
 * JSON (`--format json`), one stable shape whether the answer came from the local agent or
 * through the manager:
 *
 *   {"clean": bool, "differences": N, "notChecked": N, "repair": bool,
 *    "nodes": [{"nodeId", "nodeName", "checked": bool, "clean": bool,
 *               "errorCode", "errorMessage",
 *               "differences": [{"kind", "change", "netns", "text"}],
 *               "repaired": [{"kind", "change", "netns", "text"}],
 *               "notRepaired": [{"where", "code", "message"}]}]}
 *
 * `change` is add | delete | change; `netns` is '' for the node's own namespace. A node not
 * checked has `checked` false, its error, and empty lists.
 */
import { DOCTOR_KINDS, type DoctorDifference, type DoctorFailure, type NodeDoctor } from '../../api/api-types.ts';

const SIGN: Record<string, string> = { add: '+', delete: '-', change: '~' };

export interface DoctorJsonNode {
  nodeId: string;
  nodeName: string;
  checked: boolean;
  clean: boolean;
  errorCode: string;
  errorMessage: string;
  differences: DoctorDifference[];
  repaired: DoctorDifference[];
  notRepaired: DoctorFailure[];
}

export interface DoctorJson {
  clean: boolean;
  differences: number;
  notChecked: number;
  repair: boolean;
  nodes: DoctorJsonNode[];
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function nodeLabel(n: NodeDoctor): string {
  const id = n.nodeId.slice(0, 12);
  if (n.nodeName === '') return id === '' ? 'this node' : `this node (${id})`;
  return id === '' ? n.nodeName : `${n.nodeName} (${id})`;
}

const difference = (d: DoctorDifference): DoctorDifference => ({ kind: d.kind, change: d.change, netns: d.netns, text: d.text });

/** The JSON document of a doctor run. */
export function doctorJson(nodes: readonly NodeDoctor[], repair: boolean): DoctorJson {
  const out: DoctorJsonNode[] = nodes.map((n) => ({
    nodeId: n.nodeId,
    nodeName: n.nodeName,
    checked: n.report !== undefined && n.errorCode === '',
    clean: n.report !== undefined && n.errorCode === '' && n.report.clean,
    errorCode: n.errorCode,
    errorMessage: n.errorMessage,
    differences: (n.report?.differences ?? []).map(difference),
    repaired: (n.report?.repaired ?? []).map(difference),
    notRepaired: (n.report?.failures ?? []).map((f) => ({ where: f.where, code: f.code, message: f.message })),
  }));
  return {
    clean: out.every((n) => n.clean),
    differences: out.reduce((sum, n) => sum + n.differences.length, 0),
    notChecked: out.filter((n) => !n.checked).length,
    repair,
    nodes: out,
  };
}

/**
 * Differences grouped by kind, in DOCTOR_KINDS order (a kind not named there last), each
 * kind's in the order given; lines indented by `indent`.
 */
function groupedLines(differences: readonly DoctorDifference[], indent: string): string[] {
  const groups = new Map<string, DoctorDifference[]>();
  for (const d of differences) groups.set(d.kind, [...(groups.get(d.kind) ?? []), d]);
  const order: readonly string[] = DOCTOR_KINDS;
  const rank = (k: string): number => (order.includes(k) ? order.indexOf(k) : order.length);
  const kinds = [...groups.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const k of kinds) {
    out.push(`${indent}${k}`);
    for (const d of groups.get(k)!) out.push(`${indent}  ${SIGN[d.change] ?? '?'} ${d.text}`);
  }
  return out;
}

/** The text of a doctor run (see the module comment). */
export function formatDoctor(nodes: readonly NodeDoctor[], repair: boolean): string {
  const doc = doctorJson(nodes, repair);
  const repaired = doc.nodes.reduce((sum, n) => sum + n.repaired.length, 0);
  const notApplied = doc.nodes.reduce((sum, n) => sum + n.notRepaired.length, 0);
  if (doc.clean) {
    const what = `no differences on ${plural(doc.nodes.length, 'node')}`;
    return repair && repaired > 0 ? `clean: repaired ${plural(repaired, 'difference')}, ${what}\n` : `clean: ${what}\n`;
  }
  const lines: string[] = [];
  doc.nodes.forEach((n, i) => {
    if (n.clean && n.repaired.length === 0) return;
    lines.push(nodeLabel(nodes[i]!));
    if (!n.checked) {
      lines.push(`  not checked: ${n.errorMessage} (${n.errorCode})`);
      return;
    }
    if (!repair) {
      lines.push(...groupedLines(n.differences, '  '));
      return;
    }
    if (n.repaired.length > 0) lines.push('  repaired', ...groupedLines(n.repaired, '    '));
    if (n.notRepaired.length > 0) {
      lines.push('  not repaired');
      for (const f of n.notRepaired) lines.push(`    ${f.where}: ${f.message} (${f.code})`);
    }
    if (n.differences.length > 0) lines.push('  still different', ...groupedLines(n.differences, '    '));
  });
  const differing = doc.nodes.filter((n) => n.checked && n.differences.length > 0).length;
  const parts = [`${plural(doc.differences, 'difference')}${repair ? ' left' : ''} on ${plural(differing, 'node')}`];
  if (doc.notChecked > 0) parts.push(`${plural(doc.notChecked, 'node')} not checked`);
  if (repair) parts.push(`${plural(repaired, 'difference')} repaired`, `${plural(notApplied, 'change')} not applied`);
  lines.push(parts.join('; '));
  return `${lines.join('\n')}\n`;
}

/** 0 when every node was checked and is clean, else 1. */
export function doctorExitStatus(nodes: readonly NodeDoctor[]): number {
  return doctorJson(nodes, false).clean ? 0 : 1;
}
