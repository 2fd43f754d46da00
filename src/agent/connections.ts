/**
 * Open inbound TCP connections of a task: what a draining task waits for before it is
 * stopped. Read over sock_diag in the namespace the process is in (its sandbox; see
 * src/kernel/sock-diag.ts for why not /proc/PID/net/tcp), or from /proc/PID/net/tcp and
 * tcp6 when sock_diag cannot be used: no process is started, no conntrack needed.
 *
 * Inbound = established sockets whose local port is one the sandbox listens on; the task's
 * own outbound connections (to a database, say) are not waited for.
 */
import { readFile } from 'node:fs/promises';
import { ShoalError } from '../common/errors.ts';
import { inboundTcpConnections } from '../kernel/sock-diag.ts';

const LISTEN = '0A';
const ESTABLISHED = '01';

/** The inbound established connections in one /proc/net/tcp{,6} text and the listening ports it shows. */
export function parseProcNetTcp(text: string): { listening: Set<number>; established: number[] } {
  const listening = new Set<number>();
  const established: number[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 4) continue;
    const local = f[1]!;
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (!Number.isInteger(port)) continue;
    if (f[3] === LISTEN) listening.add(port);
    else if (f[3] === ESTABLISHED) established.push(port);
  }
  return { listening, established };
}

/** How many inbound TCP connections the sandbox of process `pid` holds open now (0 when it is gone). */
export async function inboundConnections(pid: number): Promise<number> {
  try {
    return await inboundTcpConnections(`/proc/${pid}/ns/net`);
  } catch (err) {
    if (err instanceof ShoalError && err.code === 'SHOAL_ERR_NETNS_NOT_FOUND') return 0;
  }
  const listening = new Set<number>();
  const established: number[] = [];
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = await readFile(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue; // gone, or no IPv6
    }
    const r = parseProcNetTcp(text);
    for (const p of r.listening) listening.add(p);
    established.push(...r.established);
  }
  return established.filter((p) => listening.has(p)).length;
}
