/**
 * A client of the agent's local API (local-api.ts): one HTTP request with a JSON body over
 * the unix socket DATA-DIR/agent.sock. Small on purpose: `shoal doctor` loads this and
 * nothing else of the agent.
 */
import http from 'node:http';
import { agentError } from './errors.ts';

export interface LocalAnswer {
  status: number;
  body: unknown;
}

export function localApiRequest(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<LocalAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, timeout: timeoutMs, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          reject(
            agentError(
              'SHOAL_ERR_AGENT_BAD_REQUEST',
              `the agent at ${socketPath} answered something that is not JSON`,
              { socket: socketPath },
              err,
            ),
          );
        }
      });
    });
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`the agent did not answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no agent is running on it' : err.message;
      reject(agentError('SHOAL_ERR_AGENT_UNREACHABLE', `cannot reach the agent at ${socketPath}: ${why}`, { socket: socketPath }, err));
    });
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}
