/**
 * The agent's local API: HTTP with JSON bodies on a unix socket in its data directory
 * (DATA-DIR/agent.sock, mode 0600: root on this machine only, no TLS). It serves what an
 * operator asks of this node without the manager:
 *
 *   GET  /status   what the agent runs, its gossip view (members, dead nodes, received input
 *                  dropped by reason: gossip.drops), sync counters
 *   GET  /info     the data-plane summary `shoal info` prints (node-info.ts)
 *   GET  /doctor   the data plane's drift (api-types.ts DoctorReport, plus nodeId): what
 *                  a sync would change now (none = healthy)
 *   POST /doctor/repair   one sync of each part now, then the same report with what it
 *                  repaired and what it did not apply
 *   POST /exec     {"target": TASK, "argv": [...], "timeoutMs": N} -> exit code and output
 *
 * Errors are {"code": "SHOAL_ERR_...", "message": "..."} with an HTTP status.
 */
import { chmodSync, rmSync } from 'node:fs';
import http from 'node:http';
import { dataDirPaths } from '../api/data-dir.ts';
import type { Logger } from '../common/logger.ts';
import type { Agent } from './agent.ts';

export function agentSocketPath(dataDir: string): string {
  return dataDirPaths(dataDir).agentSocket;
}

const MAX_BODY = 1024 * 1024;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw Object.assign(new Error('request body too large'), { code: 'SHOAL_ERR_AGENT_BAD_REQUEST' });
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw Object.assign(new Error('request body is not JSON'), { code: 'SHOAL_ERR_AGENT_BAD_REQUEST' });
  }
}

export class LocalApi {
  private server: http.Server | undefined;

  constructor(
    private readonly agent: Agent,
    private readonly path: string,
    private readonly logger: Logger,
  ) {}

  async listen(): Promise<void> {
    rmSync(this.path, { force: true }); // a socket file left by a killed agent
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error & { code?: string }) => {
        send(res, err.code === 'SHOAL_ERR_AGENT_BAD_REQUEST' ? 400 : 500, { code: err.code ?? 'SHOAL_ERR_INTERNAL', message: err.message });
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.path, 0o600);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/status') return send(res, 200, this.agent.status());
    if (req.method === 'GET' && url === '/info') return send(res, 200, this.agent.info());
    if (req.method === 'GET' && url === '/doctor') return send(res, 200, { nodeId: this.agent.nodeId, ...(await this.agent.doctor()) });
    if (req.method === 'POST' && url === '/doctor/repair') {
      return send(res, 200, { nodeId: this.agent.nodeId, ...(await this.agent.repair()) });
    }
    if (req.method === 'POST' && url === '/exec') {
      const body = (await readJson(req)) as { target?: unknown; argv?: unknown; timeoutMs?: unknown };
      if (
        typeof body.target !== 'string' ||
        !Array.isArray(body.argv) ||
        body.argv.length === 0 ||
        !body.argv.every((a) => typeof a === 'string')
      ) {
        return send(res, 400, { code: 'SHOAL_ERR_AGENT_BAD_REQUEST', message: 'exec needs {"target": TASK, "argv": ["cmd", ...]}' });
      }
      const w = this.agent.workloads.find(body.target);
      if (!w || w.phase !== 'running') {
        return send(res, 404, { code: 'SHOAL_ERR_AGENT_NO_TASK', message: `no running task or container ${body.target} on this node` });
      }
      const timeoutMs = typeof body.timeoutMs === 'number' ? body.timeoutMs : 0;
      const r = await this.agent.exec(w.id, body.argv as string[], timeoutMs);
      if (r.errorCode) return send(res, 500, { code: r.errorCode, message: r.errorMessage ?? '' });
      return send(res, 200, {
        exitCode: r.exitCode,
        stdout: Buffer.from(r.stdout ?? new Uint8Array()).toString('base64'),
        stderr: Buffer.from(r.stderr ?? new Uint8Array()).toString('base64'),
      });
    }
    send(res, 404, { code: 'SHOAL_ERR_NOT_FOUND', message: `no such endpoint: ${req.method} ${url}` });
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    rmSync(this.path, { force: true });
    this.logger.debug({ path: this.path }, 'local API closed');
  }
}
