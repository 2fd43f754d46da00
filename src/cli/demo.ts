/**
 * `shoal demo [--keep] [--prefix P] [--wait-timeout D]`: a 3-host testbed with its
 * cluster, a published service and a guided tour of what works on the real kernel
 * (src/testbed/demo.ts), a summary, then `testbed down`. Exit status 0 when every step
 * passed, 1 when one failed, 130 after SIGINT (143 after SIGTERM); the testbed goes in
 * every case (kept only by --keep after a clean run).
 *
 * This module wires what the testbed layer may not import itself: the agent's local API
 * client, through which the tour asks each host's agent for its doctor report.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { agentError } from '../agent/errors.ts';
import { localApiRequest } from '../agent/local-client.ts';
import type { DoctorAnswer } from '../testbed/demo.ts';
import { parseDurationMs } from './parse/duration.ts';
import { badFlagValue } from './parse/usage-error.ts';

const SIGNAL_STATUS: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Tour a 3-host cluster on this machine (root): routing mesh, DNS, scaling, drain, node failure')
    .option('--keep', 'leave the cluster up after a successful run and print how to explore it')
    .option('--prefix <prefix>', 'testbed prefix of every namespace, state dir and context', 'shoal-')
    .option('--wait-timeout <duration>', 'deadline of each condition the tour waits for', '60s')
    .action(async (opts: { keep?: boolean; prefix: string; waitTimeout: string }) => {
      const waitTimeoutMs = parseDurationMs(opts.waitTimeout, '--wait-timeout');
      if (waitTimeoutMs <= 0) throw badFlagValue('--wait-timeout', opts.waitTimeout, 'want more than 0');
      const { runDemo } = await import('../testbed/demo.ts');
      const abort = new AbortController();
      let caught: string | undefined;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (caught === undefined) {
          caught = sig;
          process.stdout.write(`\n${sig}: stopping the tour and taking the testbed down (this takes a few seconds)\n`);
          abort.abort(new Error(`interrupted by ${sig}`));
        } else process.stdout.write(`${sig}: still cleaning up\n`);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const bold = process.stdout.isTTY ? (s: string) => `\x1b[1m${s}\x1b[0m` : (s: string) => s;
      try {
        const result = await runDemo(
          { prefix: opts.prefix, keep: opts.keep === true, waitTimeoutMs },
          {
            out: {
              line: (text) => void process.stdout.write(`${text}\n`),
              heading: (text) => void process.stdout.write(`${bold(`==> ${text}`)}\n`),
              failure: (text) => void process.stdout.write(`${text}\n`),
            },
            doctor: askDoctor,
            signal: abort.signal,
          },
        );
        process.exitCode = caught !== undefined ? (SIGNAL_STATUS[caught] ?? 1) : result.ok ? 0 : 1;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

/**
 * GET /doctor of the agent whose data dir is `dataDir`, as `shoal doctor --data-dir` asks it.
 * The report lists its differences one per object (`differences`); an agent of an earlier
 * build answered a count and a text instead: both read the same.
 */
async function askDoctor(dataDir: string): Promise<DoctorAnswer> {
  const socket = join(dataDir, 'agent.sock');
  const { status, body } = await localApiRequest(socket, 'GET', '/doctor');
  if (status !== 200) {
    const e = body as { message?: string };
    throw agentError('SHOAL_ERR_AGENT_BAD_REQUEST', `the agent at ${socket} refused: ${e.message ?? status}`);
  }
  const b = body as { clean?: unknown; differences?: unknown; changes?: unknown; text?: unknown };
  if (Array.isArray(b.differences)) {
    const diffs = b.differences as Array<{ change?: string; kind?: string; netns?: string; text?: string }>;
    return {
      clean: b.clean === true,
      changes: diffs.length,
      text: diffs.map((d) => `${d.change ?? '?'} ${d.kind ?? '?'} ${d.netns ? `[${d.netns}] ` : ''}${d.text ?? ''}`).join('\n'),
    };
  }
  return {
    clean: b.clean === true,
    changes: typeof b.changes === 'number' ? b.changes : 0,
    text: typeof b.text === 'string' ? b.text : '',
  };
}
