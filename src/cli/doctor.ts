/**
 * `shoal doctor`: asks this node's agent (its local socket, DATA-DIR/agent.sock) what its
 * next sync would change in the kernel, and prints that diff. No output but a summary and
 * exit 0 when the data plane is exactly what the agent's inputs describe; the changes and
 * exit 1 when it drifted. `--format json` prints the agent's answer as it is.
 *
 * It is the same planner and diff the agent applies, printed instead of applied.
 */
import http from 'node:http';
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolveDataDir } from '../api/data-dir.ts';
import { agentError } from '../agent/errors.ts';

interface DoctorAnswer {
  clean: boolean;
  changes: number;
  text: string;
}

function get(socketPath: string, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'GET', path, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('the agent did not answer within 30 s'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no agent is running on it' : err.message;
      reject(agentError('SHOAL_ERR_AGENT_UNREACHABLE', `cannot reach the agent at ${socketPath}: ${why}`, { socket: socketPath }, err));
    });
    req.end();
  });
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description("Check this node's data plane against what its agent would program")
    .option('--data-dir <dir>', "the agent's data directory (default $SHOAL_DATA_DIR or /var/lib/shoal)")
    .option('--format <format>', 'json for the raw answer')
    .action(async (flags: { dataDir?: string; format?: string }) => {
      const socket = join(resolveDataDir(flags.dataDir), 'agent.sock');
      const { status, body } = await get(socket, '/doctor');
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
