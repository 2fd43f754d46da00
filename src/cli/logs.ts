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
 * line. The logs are read once, in full or their last N lines (there is no --follow yet),
 * and `service logs` prints task after task (ordered by slot), not interleaved by time.
 *
 * `--tail` follows Docker: "all" (the default) or a number of lines; a negative number or
 * anything else that is not a whole number means all.
 */
import type { Command } from 'commander';
import type { LogChunk, Node } from '../api/api-types.ts';
import { apiError } from '../api/errors.ts';
import { isShoalError } from '../common/errors.ts';
import type { ApiHandle, CliContext } from './client-options.ts';
import { EXIT_FAILED, EXIT_OK, apiGroupOptions, processContext, runCommand } from './client-options.ts';
import type { ByteOutput } from './exec.ts';
import { processByteOutput } from './exec.ts';
import { truncId } from './format/common.ts';
import { nodeName } from './format/node.ts';

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
  if (f.raw)
    return logLines(chunk.data)
      .map((l) => `${l}\n`)
      .join('');
  const prefix = taskPrefix(chunk, f);
  return logLines(chunk.data)
    .map((l) => `${prefix}    | ${l}\n`)
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
export function registerLogsCommand(program: Command, ctx: CliContext = processContext(), io: ByteOutput = processByteOutput()): void {
  const cmd = program
    .command('logs')
    .description('Fetch the logs of a task or container')
    .argument('<target>', 'task (ID, ID prefix, name, or SERVICE.SLOT) or container (name or ID)')
    .option('-n, --tail <lines>', 'number of lines to show from the end of the logs (default "all")');
  apiGroupOptions(cmd);
  cmd.action(async (target: string, flags: { tail?: string }, self: Command) => {
    await runCommand(ctx, self, async (api) => {
      const tail = parseTail(flags.tail);
      const chunks = await api().logs({ target, ...(tail !== undefined ? { tail } : {}) });
      for (const c of chunks) if (c.data.length > 0) io.stdout(c.data);
    });
  });
}

/** Adds `service logs` to the `service` group. */
export function addServiceLogsCommand(service: Command, ctx: CliContext): void {
  service
    .command('logs')
    .description('Fetch the logs of a service or task')
    .argument('<service>', 'service name or ID, or a task')
    .option('-n, --tail <lines>', 'number of lines to show from the end of the logs (default "all")')
    .option('--no-task-ids', 'do not include task IDs in output')
    .option('--no-trunc', 'do not truncate output')
    .option('--raw', 'do not neatly format logs')
    .option('--no-resolve', 'do not map IDs to names in output')
    .action(
      async (name: string, flags: { tail?: string; taskIds: boolean; trunc: boolean; raw?: boolean; resolve: boolean }, cmd: Command) => {
        await runCommand(ctx, cmd, async (api) => {
          const tail = parseTail(flags.tail);
          const tailField = tail !== undefined ? { tail } : {};
          let chunks: LogChunk[];
          let slotWidth = 1;
          try {
            const svc = await api().inspectService(name);
            const replicas = svc.spec.mode.replicated?.replicas;
            if (replicas !== undefined) slotWidth = Math.max(1, String(replicas).length);
            chunks = await api().logs({ service: svc.id, ...tailField });
          } catch (err) {
            if (!isShoalError(err, 'SHOAL_ERR_SERVICE_NOT_FOUND')) throw err;
            try {
              chunks = await api().logs({ target: name, ...tailField });
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
          };
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
