/**
 * `shoal doctor`: asks this node's agent (its local socket, DATA-DIR/agent.sock) what its
 * next sync would change in the kernel, and prints that diff. No output but a summary and
 * exit 0 when the data plane is exactly what the agent's inputs describe; the changes and
 * exit 1 when it drifted. `--format json` prints the agent's answer as it is.
 *
 * It is the same planner and diff the agent applies, printed instead of applied.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolveDataDir } from '../api/data-dir.ts';
import { agentError } from '../agent/errors.ts';
import { localApiRequest } from '../agent/local-client.ts';

interface DoctorAnswer {
  clean: boolean;
  changes: number;
  text: string;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description("Check this node's data plane against what its agent would program")
    .option('--data-dir <dir>', "the agent's data directory (default $SHOAL_DATA_DIR or /var/lib/shoal)")
    .option('--format <format>', 'json for the raw answer')
    .action(async (flags: { dataDir?: string; format?: string }) => {
      const socket = join(resolveDataDir(flags.dataDir), 'agent.sock');
      const { status, body } = await localApiRequest(socket, 'GET', '/doctor');
      if (status !== 200) {
        const e = body as { code?: string; message?: string };
        throw agentError('SHOAL_ERR_AGENT_BAD_REQUEST', `the agent refused: ${e.message ?? status}`);
      }
      const d = body as DoctorAnswer;
      if (flags.format === 'json') process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      else if (d.clean) process.stdout.write('The data plane matches the desired state: nothing to change.\n');
      else process.stdout.write(`${d.text.endsWith('\n') ? d.text : `${d.text}\n`}${d.changes} change(s) needed\n`);
      if (!d.clean) process.exitCode = 1;
    });
}
