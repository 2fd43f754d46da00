/**
 * The node's doctor report (api-types.ts DoctorReport) from what each part of the data
 * plane says its next sync would change: the overlay's changes (diff.ts), the load
 * balancers' and the resolver's nftables lines, and the workloads whose process is gone.
 * Pure: the agent reads the kernel, this turns the findings into differences, and after a
 * repair compares the two readings.
 *
 * Every difference is one object in its canonical one-line text, `KIND NETNS REST`, the
 * namespace after the first word as formatChanges writes it (`host` for the agent's own),
 * so one line names what it is, where, and what it holds.
 */
import { DOCTOR_KINDS, type DoctorDifference, type DoctorFailure, type DoctorReport } from '../api/api-types.ts';
import { formatChanges, type OverlayChange } from '../overlay/apply.ts';
import { netnsLabel } from '../overlay/objects.ts';

/** The overlay's changes as differences, in apply order. */
export function overlayDifferences(changes: readonly OverlayChange[]): DoctorDifference[] {
  return changes.map((c) => ({ kind: c.type, change: c.kind, netns: c.netns, text: formatChanges([c]).slice(2) }));
}

/**
 * The differences of one nftables table, from doctor lines (`+ LINE` lacking, `- LINE`
 * extra, anything else a note such as `table ip T does not exist` or `... N more`).
 */
export function nftDifferences(netns: string, table: string, lines: readonly string[]): DoctorDifference[] {
  return lines.map((l) => {
    const sign = l.slice(0, 2);
    const change = sign === '+ ' ? 'add' : sign === '- ' ? 'delete' : l.endsWith('does not exist') ? 'add' : 'change';
    const rest = sign === '+ ' || sign === '- ' ? l.slice(2) : l;
    return { kind: 'nft', change, netns, text: `nft ${netnsLabel(netns)} ip ${table}: ${rest}` };
  });
}

/** A resolver finding: a sandbox it has no sockets in, or its redirect table drifted. */
export interface ResolverFinding {
  netns: string;
  /** `unserved`, or a whole table's drift (missing, unwanted, differs). */
  kind: 'unserved' | 'missing' | 'unwanted' | 'differs';
  /** The table's name (drift), or what is wrong (unserved). */
  text: string;
}

export function resolverDifferences(findings: readonly ResolverFinding[]): DoctorDifference[] {
  return findings.map((f) => ({
    kind: 'dns',
    change: f.kind === 'unwanted' ? 'delete' : f.kind === 'differs' ? 'change' : 'add',
    netns: f.netns,
    text:
      f.kind === 'unserved' ? `dns ${netnsLabel(f.netns)} ${f.text}` : `dns ${netnsLabel(f.netns)} redirect table ip ${f.text} ${f.kind}`,
  }));
}

/** A workload the agent believes running. */
export interface RunningWorkload {
  id: string;
  name: string;
  kind: 'task' | 'container';
  pid: number;
  netns: string;
  /** Whether its process is alive now. */
  alive: boolean;
}

/** A workload the agent believes running whose process is gone: the agent still reports it running. */
export function workloadDifferences(workloads: readonly RunningWorkload[]): DoctorDifference[] {
  return workloads
    .filter((w) => !w.alive)
    .map((w) => ({
      kind: 'task',
      change: 'change',
      netns: w.netns,
      text: `task ${netnsLabel(w.netns)} ${w.kind} ${w.name} pid ${w.pid} gone (was: running)`,
    }));
}

function byKind(a: DoctorDifference, b: DoctorDifference): number {
  const rank = (k: string): number => {
    const i = (DOCTOR_KINDS as readonly string[]).indexOf(k);
    return i < 0 ? DOCTOR_KINDS.length : i;
  };
  return rank(a.kind) - rank(b.kind);
}

/** A doctor report without a repair. */
export function doctorReport(differences: readonly DoctorDifference[]): DoctorReport {
  const sorted = [...differences].sort(byKind); // stable: apply order within a kind
  return { clean: sorted.length === 0, differences: sorted, repair: false, repaired: [], failures: [] };
}

/**
 * A repair's report: the differences before and after its sync, and what the sync said it
 * did not apply. Clean only when nothing differs after it and nothing failed.
 */
export function repairReport(
  before: readonly DoctorDifference[],
  after: readonly DoctorDifference[],
  failures: readonly DoctorFailure[],
): DoctorReport {
  const left = new Set(after.map((d) => `${d.change} ${d.text}`));
  const repaired = [...before].filter((d) => !left.has(`${d.change} ${d.text}`)).sort(byKind);
  const differences = [...after].sort(byKind);
  return { clean: differences.length === 0 && failures.length === 0, differences, repair: true, repaired, failures: [...failures] };
}

/** What a failed sync's error says it did not apply: its details' failures, else the error itself. */
export function syncFailures(part: string, error: unknown): DoctorFailure[] {
  const e = error as { code?: string; message?: string; details?: { failures?: unknown } };
  const list = Array.isArray(e?.details?.failures) ? (e.details.failures as Array<Record<string, unknown>>) : [];
  if (list.length === 0) return [{ where: part, code: e?.code ?? 'SHOAL_ERR_INTERNAL', message: e?.message ?? String(error) }];
  return list.map((f) => ({
    where: typeof f['where'] === 'string' ? f['where'] : typeof f['sandbox'] === 'string' ? `sandbox ${f['sandbox']}` : part,
    code: typeof f['code'] === 'string' ? f['code'] : (e.code ?? 'SHOAL_ERR_SYNC_FAILED'),
    message: failureMessage(f),
  }));
}

function failureMessage(f: Record<string, unknown>): string {
  if (typeof f['message'] === 'string') {
    const text = typeof f['text'] === 'string' ? `${f['text']}: ` : '';
    return `${text}${f['message']}`;
  }
  return JSON.stringify(f);
}
