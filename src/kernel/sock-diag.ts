/**
 * A network namespace's TCP sockets over sock_diag (NETLINK_SOCK_DIAG, the inet_diag dump
 * `ss -tn` uses), asking the kernel for the states wanted only: the ports it listens on
 * (readiness), and its inbound connections, from handshake to last acknowledgement (a
 * draining task's wait).
 *
 * Why not /proc/PID/net/tcp: to print it, the kernel walks its whole established hash, the
 * one table every namespace's connections and TIME_WAIT sockets share, skipping the other
 * namespaces' entries; after a load test leaves a hundred thousand TIME_WAIT sockets in some
 * namespace, one read of an idle sandbox's file took tens of milliseconds, and a readiness
 * poll reads it for every task that waits. A sock_diag dump whose state mask is LISTEN
 * alone walks only the listening hash (inet_diag_dump_icsk skips the established one); a
 * dump of ESTABLISHED sockets walks the established hash too, but filters in the kernel and
 * formats nothing for the entries it skips.
 *
 * The socket is opened inside the namespace (native runInNetns around the `netlink`
 * package's socket constructor, as ctnetlink.ts does) and closed before the call returns.
 *
 * Kernel facts this relies on (include/uapi/linux/inet_diag.h, sock_diag.h; kernel 6.18):
 * - the request is SOCK_DIAG_BY_FAMILY (20) with NLM_F_DUMP and a struct inet_diag_req_v2
 *   {u8 family; u8 protocol; u8 ext; u8 pad; u32 states; struct inet_diag_sockid id (48)};
 * - each answer is a struct inet_diag_msg {u8 family; u8 state; u8 timer; u8 retrans;
 *   struct inet_diag_sockid id {be16 sport; be16 dport; ...}; ...}: the local port is the
 *   big-endian u16 at offset 4;
 * - only the dumping socket's namespace's sockets are sent; a socket bound to [::] without
 *   IPV6_V6ONLY (how Node listens by default) is in the AF_INET6 dump only.
 */
import { createNetlink, type NetlinkSocket } from 'netlink';
import { ShoalError } from '../common/errors.ts';
import { callNative } from './native.ts';

const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_DUMP = 0x300;
const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const TCP_ESTABLISHED = 1;
const TCP_SYN_RECV = 3;
const TCP_FIN_WAIT1 = 4;
const TCP_CLOSE_WAIT = 8;
const TCP_LAST_ACK = 9;
const TCP_LISTEN = 10;
const TCP_CLOSING = 11;
const TCP_NEW_SYN_RECV = 12;
/**
 * The states of an inbound connection a task must not be stopped under: in its handshake
 * (a request socket, NEW_SYN_RECV, or SYN_RECV), open, closed by the client with the task
 * still answering (CLOSE_WAIT), or closed by the task with its last bytes or FIN not yet
 * acknowledged (FIN_WAIT1, CLOSING, LAST_ACK): stopping the process and removing the
 * sandbox then would lose the answer, and the client would wait for its timeout. FIN_WAIT2
 * and TIME_WAIT are left out: the client has acknowledged everything the task sent.
 */
export const INBOUND_STATES: readonly number[] = [
  TCP_ESTABLISHED,
  TCP_SYN_RECV,
  TCP_FIN_WAIT1,
  TCP_CLOSE_WAIT,
  TCP_LAST_ACK,
  TCP_CLOSING,
  TCP_NEW_SYN_RECV,
];
const REQUEST_BYTES = 56;
const SOCKET_BUFFER = 256 * 1024;

/** The inet_diag_req_v2 asking for `family`'s TCP sockets in the `states` given (default: listening). */
export function listenDumpRequest(family: number, states: readonly number[] = [TCP_LISTEN]): Uint8Array {
  const b = new Uint8Array(REQUEST_BYTES);
  const v = new DataView(b.buffer);
  b[0] = family;
  b[1] = IPPROTO_TCP;
  v.setUint32(4, states.reduce((m, st) => m | (1 << st), 0) >>> 0, true); // idiag_states, host order
  return b;
}

/** The state and local port of one inet_diag_msg, or undefined when it is too short. */
export function socketOf(data: Uint8Array): { state: number; port: number } | undefined {
  if (data.length < 8) return undefined;
  return { state: data[1]!, port: (data[4]! << 8) | data[5]! };
}

/** The local port of one inet_diag_msg, or undefined when it is too short or not listening. */
export function listeningPortOf(data: Uint8Array): number | undefined {
  const s = socketOf(data);
  return s?.state === TCP_LISTEN ? s.port : undefined;
}

/**
 * The TCP sockets (state, local port) of the namespace at `nsPath` (a bind-mounted name's
 * path or /proc/PID/ns/net) in the `states` given, IPv4 and IPv6. SHOAL_ERR_NETNS_NOT_FOUND
 * when the namespace is gone.
 */
async function tcpSockets(nsPath: string, states: readonly number[], timeoutMs: number): Promise<Array<{ state: number; port: number }>> {
  const sock: NetlinkSocket = callNative(`open a sock_diag socket in ${nsPath}`, (n) =>
    n.runInNetns(nsPath, () => createNetlink(NETLINK_SOCK_DIAG, { recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER })),
  );
  const out: Array<{ state: number; port: number }> = [];
  try {
    for (const family of [AF_INET, AF_INET6]) {
      let msgs: Awaited<ReturnType<NetlinkSocket['request']>>[0];
      try {
        [msgs] = await sock.request(SOCK_DIAG_BY_FAMILY, listenDumpRequest(family, states), { flags: NLM_F_DUMP, timeout: timeoutMs });
      } catch (err) {
        // a kernel without IPv6 answers the AF_INET6 dump with an error: no sockets there
        if (family === AF_INET6) continue;
        throw new ShoalError('SHOAL_ERR_NETLINK', `sock_diag dump of TCP sockets in ${nsPath} failed: ${(err as Error).message}`, {
          cause: err,
          details: { nsPath },
        });
      }
      for (const m of msgs) {
        if (m.type !== SOCK_DIAG_BY_FAMILY) continue;
        const s = socketOf(m.data);
        if (s && states.includes(s.state)) out.push(s);
      }
    }
  } finally {
    sock.close();
  }
  return out;
}

/** The TCP ports listened on in the namespace at `nsPath`, IPv4 and IPv6. */
export async function listeningTcpPorts(nsPath: string, timeoutMs = 2_000): Promise<Set<number>> {
  return new Set((await tcpSockets(nsPath, [TCP_LISTEN], timeoutMs)).map((s) => s.port));
}

/**
 * How many inbound TCP connections the namespace at `nsPath` holds: sockets in one of
 * INBOUND_STATES whose local port is one it listens on (its own outbound connections, to a
 * database say, are not counted).
 */
export async function inboundTcpConnections(nsPath: string, timeoutMs = 2_000): Promise<number> {
  const socks = await tcpSockets(nsPath, [TCP_LISTEN, ...INBOUND_STATES], timeoutMs);
  const listening = new Set(socks.filter((s) => s.state === TCP_LISTEN).map((s) => s.port));
  return socks.filter((s) => s.state !== TCP_LISTEN && listening.has(s.port)).length;
}
