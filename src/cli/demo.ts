/**
 * `shoal demo [--keep] [--prefix P] [--wait-timeout D]`: a 3-host testbed with its
 * cluster, a published service and a guided tour of what works on the real kernel
 * (src/testbed/demo.ts), a summary, then `testbed down`. Exit status 0 when every step
 * passed, 1 when one failed, 130 after SIGINT (143 after SIGTERM); the testbed goes in
 * every case (kept only by --keep after a clean run).
 *
 * This module wires what the testbed layer may not import itself: `shoal doctor`'s local
 * request and its text, through which the tour asks each host's agent for its report.
 */
import type { Command } from 'commander';
import type { DoctorAnswer } from '../testbed/demo.ts';
import { localDoctor } from './doctor.ts';
import { formatDoctor } from './format/doctor.ts';
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
 * What `shoal doctor --data-dir DATA-DIR` reports (its local socket, DATA-DIR/agent.sock):
 * whether it is clean, how many differences, and its text.
 */
async function askDoctor(dataDir: string): Promise<DoctorAnswer> {
  const node = await localDoctor(dataDir, false);
  return { clean: node.report?.clean === true, changes: node.report?.differences.length ?? 0, text: formatDoctor([node], false) };
}
