/**
 * Logs, as Docker prints them: `shoal logs [--tail N] TASK|CONTAINER` (`docker logs`: the
 * output as stored, unchanged) and `shoal service logs [OPTIONS] SERVICE|TASK` (`docker
 * service logs`: every task's lines, each after its task's prefix
 * `web.1.abcdefghijkl@node1    | `).
 *
 * The logs live on the nodes (each agent keeps its tasks' stdout and stderr); the manager
 * fetches them through the agents' sessions. A task whose node is down or whose agent is
 * not connected gets one `Error: ...` line on stderr in `service logs` while the other
 * tasks' lines still print (exit status 1); `shoal logs` of such a task fails with that
 * line. Without --follow the logs are read once, in full or their last N lines, and
 * `service logs` prints task after task (ordered by slot), not interleaved by time.
 *
 * `-f/--follow` keeps reading (log-follow.ts): new lines as they are written, from every
 * task of the service including those that start later, each line once; Ctrl-C ends it
 * with status 0. `shoal logs -f TASK` also ends when the task has ended.
 *
 * `--tail` follows Docker: "all" (the default) or a number of lines; a negative number or
 * anything else that is not a whole number means all.
 */
import type { Command } from 'commander';
import type { LogChunk, Node } from '../api/api-types.ts';
import { apiError } from '../api/errors.ts';
import { ShoalError, isShoalError } from '../common/errors.ts';
import type { ApiHandle, CliContext } from './client-options.ts';
import { EXIT_FAILED, EXIT_OK, apiGroupOptions, processContext, runCommand } from './client-options.ts';
import type { ByteOutput } from './exec.ts';
import { processByteOutput } from './exec.ts';
import { truncId } from './format/common.ts';
import { nodeName } from './format/node.ts';
import { logTimestamp } from './format/time.ts';
import type { FollowIo } from './log-follow.ts';
import { abortableSleep, followLogs } from './log-follow.ts';
import { parseTimestampMs } from './parse/timestamp.ts';

const SINCE_HELP = 'show logs since a time: a duration before now (10m, 1h30m), a Unix timestamp or an RFC 3339 date';
const TIMESTAMPS_HELP = 'show timestamps (when the agent saw each line written, to within 100 ms)';

/** What follow mode needs of the process: an interrupt to stop on, and a sleep. */
export interface FollowHooks {
  /** A signal that aborts on Ctrl-C (SIGINT) or SIGTERM; `release` stops listening. */
  interrupt(): { signal: AbortSignal; release(): void };
  sleep: FollowIo['sleep'];
}

export function processFollowHooks(): FollowHooks {
  return {
    interrupt: () => {
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return {
        signal: ac.signal,
        release: () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        },
      };
    },
    sleep: abortableSleep,
  };
}

/** Runs follow mode with the process's interrupt; returns how many logs failed at first. */
async function runFollow(
  hooks: FollowHooks,
  io: Omit<FollowIo, 'sleep'>,
  opts: { tail: number | undefined; untilEnded: boolean },
): Promise<number> {
  const { signal, release } = hooks.interrupt();
  try {
    return await followLogs({ ...io, sleep: hooks.sleep }, { ...opts, signal });
  } finally {
    release();
  }
}

/** Docker's --tail: "all" or a whole number; negative or not a number -> all (undefined). */
export function parseTail(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d+$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  return n < 0 || !Number.isSafeInteger(n) ? undefined : n;
}

export interface ServiceLogFormat {
  noTaskIds: boolean;
  noTrunc: boolean;
  raw: boolean;
  /** Node ID -> the name to show (empty: show the ID, as --no-resolve does). */
  nodeNames: ReadonlyMap<string, string>;
  /** Digits of the service's replica count: Docker pads slots to it (1 for a task or a global service). */
  slotWidth: number;
  /** -t: each line after its time (the chunk's lineTimes). */
  timestamps?: boolean;
}

/** What -t puts before a line: its time and a space ('' for a line without a time). */
function stampText(ms: number | undefined): string {
  return ms === undefined ? '' : `${logTimestamp(ms)} `;
}

/** The bytes `shoal logs` prints: the log as it is, or with -t each line after its time. */
export function stampedLog(data: Uint8Array, times: readonly number[] | undefined): Uint8Array {
  if (!times || data.length === 0) return data;
  const out: Buffer[] = [];
  let start = 0;
  let line = 0;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl < 0 ? buf.length : nl + 1;
    out.push(Buffer.from(stampText(times[line++])), buf.subarray(start, end));
    start = end;
  }
  return Buffer.concat(out);
}

/** `--since`: Docker's forms (a duration before now, a Unix timestamp, an RFC 3339 date) as ms. */
export function parseSince(text: string | undefined, nowMs: number): number | undefined {
  if (text === undefined || text === '') return undefined;
  return Math.max(0, parseTimestampMs(text, nowMs, '--since'));
}

/** A chunk's lines, each ending in a newline (a last line without one gets it). */
export function logLines(data: Uint8Array): string[] {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Docker's task prefix: `service.slot.taskid@node` padded to the slot width. */
export function taskPrefix(chunk: LogChunk, f: ServiceLogFormat): string {
  let name = `${chunk.serviceName || chunk.taskName}.${chunk.slot}`;
  if (!f.noTaskIds) name += `.${truncId(chunk.taskId || chunk.containerId, f.noTrunc)}`;
  const node = f.nodeNames.get(chunk.nodeId) || chunk.nodeId;
  const padding = ' '.repeat(Math.max(0, f.slotWidth - String(chunk.slot).length));
  return `${name}@${node}${padding}`;
}

/** The text `service logs` prints for one chunk (an error chunk prints nothing here). */
export function serviceLogText(chunk: LogChunk, f: ServiceLogFormat): string {
  if (chunk.errorCode !== '') return '';
  const stamp = (i: number): string => stampText(f.timestamps ? chunk.lineTimes[i] : undefined);
  if (f.raw)
    return logLines(chunk.data)
      .map((l, i) => `${stamp(i)}${l}\n`)
      .join('');
  const prefix = taskPrefix(chunk, f);
  return logLines(chunk.data)
    .map((l, i) => `${stamp(i)}${prefix}    | ${l}\n`)
    .join('');
}

/** The one line printed for a chunk whose log could not be read. */
export function chunkErrorLine(chunk: LogChunk): string {
  return `Error: ${chunk.taskName}: ${chunk.errorMessage} (${chunk.errorCode})`;
}

async function nodeNames(api: ApiHandle, resolve: boolean): Promise<Map<string, string>> {
  if (!resolve) return new Map();
  return new Map((await api.listNodes()).map((n: Node) => [n.id, nodeName(n)]));
}

/** `shoal logs TASK|CONTAINER` (a top-level command). */
export function registerLogsCommand(
  program: Command,
  ctx: CliContext = processContext(),
  io: ByteOutput = processByteOutput(),
  hooks: FollowHooks = processFollowHooks(),
): void {
  const cmd = program
    .command('logs')
    .description('Fetch the logs of a task or container')
    .argument('<target>', 'task (ID, ID prefix, name, or SERVICE.SLOT) or container (name or ID)')
    .option('-f, --follow', 'follow log output: print new lines as they are written, until the task ends or Ctrl-C')
    .option('--since <time>', SINCE_HELP)
    .option('-n, --tail <lines>', 'number of lines to show from the end of the logs (default "all")')
    .option('-t, --timestamps', TIMESTAMPS_HELP);
  apiGroupOptions(cmd);
  cmd.action(async (target: string, flags: { tail?: string; follow?: boolean; since?: string; timestamps?: boolean }, self: Command) => {
    await runCommand(ctx, self, async (api) => {
      const tail = parseTail(flags.tail);
      const sinceMs = parseSince(flags.since, ctx.now());
      const filter = { ...(sinceMs !== undefined ? { sinceMs } : {}), ...(flags.timestamps ? { timestamps: true } : {}) };
      const stamp = (data: Uint8Array, times: readonly number[]): Uint8Array => (flags.timestamps ? stampedLog(data, times) : data);
      if (flags.follow) {
        await runFollow(
          hooks,
          {
            poll: (cursor) => api().logs({ target, ...filter, ...cursor }),
            print: (l) => io.stdout(stamp(l.data, l.times)),
            report: (c) => {
              throw ShoalError.remote(c.errorCode, c.errorMessage);
            },
          },
          { tail, untilEnded: true },
        );
        return;
      }
      const chunks = await api().logs({ target, ...(tail !== undefined ? { tail } : {}), ...filter });
      for (const c of chunks) if (c.data.length > 0) io.stdout(stamp(c.data, c.lineTimes));
    });
  });
}

/** Adds `service logs` to the `service` group. */
export function addServiceLogsCommand(service: Command, ctx: CliContext, hooks: FollowHooks = processFollowHooks()): void {
  service
    .command('logs')
    .description('Fetch the logs of a service or task')
    .argument('<service>', 'service name or ID, or a task')
    .option('-f, --follow', 'follow log output: print new lines as they are written, also of tasks that start later, until Ctrl-C')
    .option('--since <time>', SINCE_HELP)
    .option('-n, --tail <lines>', 'number of lines to show from the end of the logs (default "all")')
    .option('-t, --timestamps', TIMESTAMPS_HELP)
    .option('--no-task-ids', 'do not include task IDs in output')
    .option('--no-trunc', 'do not truncate output')
    .option('--raw', 'do not neatly format logs')
    .option('--no-resolve', 'do not map IDs to names in output')
    .action(
      async (
        name: string,
        flags: {
          tail?: string;
          follow?: boolean;
          since?: string;
          timestamps?: boolean;
          taskIds: boolean;
          trunc: boolean;
          raw?: boolean;
          resolve: boolean;
        },
        cmd: Command,
      ) => {
        await runCommand(ctx, cmd, async (api) => {
          const tail = parseTail(flags.tail);
          const sinceMs = parseSince(flags.since, ctx.now());
          const filter = { ...(sinceMs !== undefined ? { sinceMs } : {}), ...(flags.timestamps ? { timestamps: true } : {}) };
          // following, the loop reads the logs: a task's first read (no lines) only checks that it exists
          const tailField = flags.follow ? { tail: 0 } : { ...(tail !== undefined ? { tail } : {}), ...filter };
          let chunks: LogChunk[];
          let slotWidth = 1;
          // what the logs are of: the service, or (when no service has that name) a task
          let source: { service: string } | { target: string };
          try {
            const svc = await api().inspectService(name);
            const replicas = svc.spec.mode.replicated?.replicas;
            if (replicas !== undefined) slotWidth = Math.max(1, String(replicas).length);
            source = { service: svc.id };
            chunks = flags.follow ? [] : await api().logs({ ...source, ...tailField });
          } catch (err) {
            if (!isShoalError(err, 'SHOAL_ERR_SERVICE_NOT_FOUND')) throw err;
            try {
              source = { target: name };
              chunks = await api().logs({ ...source, ...tailField });
            } catch (taskErr) {
              if (isShoalError(taskErr, 'SHOAL_ERR_TASK_NOT_FOUND')) {
                throw apiError('SHOAL_ERR_SERVICE_NOT_FOUND', `no such service or task: ${name}`, { ref: name });
              }
              throw taskErr;
            }
          }
          const format: ServiceLogFormat = {
            noTaskIds: !flags.taskIds,
            noTrunc: !flags.trunc,
            raw: flags.raw === true,
            nodeNames: flags.raw ? new Map() : await nodeNames(api(), flags.resolve),
            slotWidth,
            timestamps: flags.timestamps === true,
          };
          if (flags.follow) {
            const failedAtFirst = await runFollow(
              hooks,
              {
                poll: (cursor) => api().logs({ ...source, ...filter, ...cursor }),
                print: (l) => {
                  const text = serviceLogText({ ...l.chunk, data: l.data, lineTimes: l.times }, format);
                  if (text !== '') ctx.out(text);
                },
                report: (c) => ctx.err(`${chunkErrorLine(c)}\n`),
              },
              { tail, untilEnded: false },
            );
            return failedAtFirst > 0 ? EXIT_FAILED : EXIT_OK;
          }
          let failed = 0;
          for (const c of chunks) {
            if (c.errorCode !== '') {
              failed++;
              ctx.err(`${chunkErrorLine(c)}\n`);
              continue;
            }
            const text = serviceLogText(c, format);
            if (text !== '') ctx.out(text);
          }
          return failed > 0 ? EXIT_FAILED : EXIT_OK;
        });
      },
    );
}
