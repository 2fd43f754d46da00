/**
 * What `service ps` and `node ps` share, as Docker has it: their flags, the check of the
 * desired-state filter, the tasks asked of the API and the output. The API filters by
 * service or node, by ID and by one desired state; several desired states (`accepted`
 * read as `running`, as the API reads it), names and labels are filtered here. Output:
 * the IDs with -q, else the table or format (left out when nothing was found and a name
 * failed), then each failed name's error line; exit status 1 when a name failed.
 */
import type { Command } from 'commander';
import type { ListTasksFilter } from '../api/api-types.ts';
import type { ApiHandle, CliContext } from './client-options.ts';
import { EXIT_FAILED, EXIT_OK, collect } from './client-options.ts';
import type { ListLayout, Row } from './format/list.ts';
import { renderList, renderQuiet } from './format/list.ts';
import { nodeName } from './format/node.ts';
import { orderTasks, taskRow } from './format/service.ts';
import type { Filters } from './parse/filter.ts';
import { matchesLabelFilters, parseFilters } from './parse/filter.ts';
import type { FormatOption } from './parse/format-option.ts';
import { parseListFormat } from './parse/format-option.ts';
import { UsageError } from './parse/usage-error.ts';

export interface TaskPsFlags {
  filter?: string[];
  format?: string;
  resolve: boolean;
  trunc: boolean;
  quiet?: boolean;
}

/** Docker's words for the desired-state filter (accepted: the tasks meant to run). */
const DESIRED_STATES: readonly string[] = ['running', 'shutdown', 'accepted'];

/** Adds the ps options to `cmd`; `filterKeys` are the filters it takes, named in the help. */
export function addTaskPsOptions(cmd: Command, filterKeys: readonly string[]): Command {
  return cmd
    .option('-f, --filter <filter>', `filter output (${filterKeys.join(', ')}; repeatable)`, collect)
    .option('--format <format>', 'format output: table, table TEMPLATE, json or a Go template')
    .option('--no-resolve', 'do not map node IDs to host names')
    .option('--no-trunc', 'do not truncate output')
    .option('-q, --quiet', 'only display task IDs');
}

/** The format and filters of a ps command line, checked before anything is asked. */
export function parseTaskPs(flags: TaskPsFlags, filterKeys: readonly string[]): { format: FormatOption; filters: Filters } {
  const format = parseListFormat(flags.format);
  const filters = parseFilters(flags.filter ?? [], filterKeys);
  for (const d of filters.get('desired-state') ?? []) {
    if (!DESIRED_STATES.includes(d)) throw new UsageError(`invalid filter 'desired-state=${d}': want running, shutdown or accepted`);
  }
  return { format, filters };
}

/** The tasks `select` names that pass the filters, as rows in Docker's order (history under each slot). */
export async function taskPsRows(
  api: ApiHandle,
  select: Pick<ListTasksFilter, 'services' | 'nodes'>,
  filters: Filters,
  flags: TaskPsFlags,
  nowMs: number,
): Promise<Row[]> {
  const desired = filters.get('desired-state') ?? [];
  const ids = filters.get('id');
  const tasks = await api.listTasks({
    ...select,
    ...(ids ? { ids: [...ids] } : {}),
    ...(desired.length === 1 ? { desiredState: desired[0] as string } : {}),
  });
  const names = filters.get('name');
  const kept = tasks.filter(
    (t) =>
      (desired.length <= 1 || desired.some((d) => t.desiredState === (d === 'accepted' ? 'running' : d))) &&
      (!names || names.some((n) => t.name.startsWith(n) || `${t.serviceName}.${t.slot}`.startsWith(n))) &&
      matchesLabelFilters(t.spec.labels, filters.get('label')),
  );
  const nodeNames = flags.resolve ? new Map((await api.listNodes()).map((n) => [n.id, nodeName(n)])) : new Map<string, string>();
  return orderTasks(kept).map(({ task, history }) => taskRow(task, history, { nowMs, noTrunc: !flags.trunc, nodeNames }));
}

/** Prints a ps command's rows and then its errors (one line per name that failed); its exit status. */
export function printTaskPs(
  ctx: CliContext,
  out: { rows: readonly Row[]; errors: readonly string[]; quiet: boolean; layout: ListLayout; format: FormatOption },
): number {
  if (out.quiet) ctx.out(renderQuiet(out.rows.map((r) => r['ID'] as string)));
  else if (out.rows.length > 0 || out.errors.length === 0) ctx.out(renderList(out.rows, out.layout, out.format));
  for (const e of out.errors) ctx.err(`${e}\n`);
  return out.errors.length > 0 ? EXIT_FAILED : EXIT_OK;
}
