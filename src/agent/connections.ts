/**
 * Open inbound TCP connections of a task: what a draining task waits for before it is
 * stopped. Read over sock_diag in the namespace the process is in (its sandbox; see
 * src/kernel/sock-diag.ts for why not /proc/PID/net/tcp), or from /proc/PID/net/tcp and
 * tcp6 when sock_diag cannot be used: no process is started, no conntrack needed.
 *
 * Inbound = sockets from handshake to last acknowledgement (INBOUND_STATES in sock-diag.ts)
 * whose local port is one the sandbox listens on; the task's own outbound connections (to a
 * database, say) are not waited for.
 */
import { readFile } from 'node:fs/promises';
import { ShoalError } from '../common/errors.ts';
import { INBOUND_STATES, inboundTcpConnections } from '../kernel/sock-diag.ts';

const LISTEN = '0A';
/** INBOUND_STATES as /proc/net/tcp prints them (two hex digits; a request socket shows as SYN_RECV, 03). */
const OPEN = new Set(INBOUND_STATES.map((st) => st.toString(16).toUpperCase().padStart(2, '0')));

/** The local ports of the open connections in one /proc/net/tcp{,6} text and the listening ports it shows. */
export function parseProcNetTcp(text: string): { listening: Set<number>; open: number[] } {
  const listening = new Set<number>();
  const open: number[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.trim().split(/\s+/);
    if (f.length < 4) continue;
    const local = f[1]!;
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (!Number.isInteger(port)) continue;
    if (f[3] === LISTEN) listening.add(port);
    else if (OPEN.has(f[3]!)) open.push(port);
  }
  return { listening, open };
}

/** How many inbound TCP connections the sandbox of process `pid` holds open now (0 when it is gone). */
export async function inboundConnections(pid: number): Promise<number> {
  try {
    return await inboundTcpConnections(`/proc/${pid}/ns/net`);
  } catch (err) {
    if (err instanceof ShoalError && err.code === 'SHOAL_ERR_NETNS_NOT_FOUND') return 0;
  }
  const listening = new Set<number>();
  const open: number[] = [];
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = await readFile(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue; // gone, or no IPv6
    }
    const r = parseProcNetTcp(text);
    for (const p of r.listening) listening.add(p);
    open.push(...r.open);
  }
  return open.filter((p) => listening.has(p)).length;
}
