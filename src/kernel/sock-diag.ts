/**
 * The TCP ports a network namespace listens on, over sock_diag (NETLINK_SOCK_DIAG, the
 * inet_diag dump `ss -ltn` uses), asking for listening sockets only.
 *
 * Why not /proc/PID/net/tcp: to print it, the kernel walks its whole established hash, the
 * one table every namespace's connections and TIME_WAIT sockets share, skipping the other
 * namespaces' entries; after a load test leaves a hundred thousand TIME_WAIT sockets in some
 * namespace, one read of an idle sandbox's file took tens of milliseconds, and a readiness
 * poll reads it for every task that waits. A sock_diag dump whose state mask is LISTEN
 * alone walks only the listening hash (inet_diag_dump_icsk skips the established one).
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
const TCP_LISTEN = 10;
const REQUEST_BYTES = 56;
const SOCKET_BUFFER = 256 * 1024;

/** The inet_diag_req_v2 asking for `family`'s listening TCP sockets. */
export function listenDumpRequest(family: number): Uint8Array {
  const b = new Uint8Array(REQUEST_BYTES);
  const v = new DataView(b.buffer);
  b[0] = family;
  b[1] = IPPROTO_TCP;
  v.setUint32(4, 1 << TCP_LISTEN, true); // idiag_states, host order
  return b;
}

/** The local port of one inet_diag_msg, or undefined when it is too short or not listening. */
export function listeningPortOf(data: Uint8Array): number | undefined {
  if (data.length < 8 || data[1] !== TCP_LISTEN) return undefined;
  return (data[4]! << 8) | data[5]!;
}

/**
 * The TCP ports listened on in the namespace at `nsPath` (a bind-mounted name's path or
 * /proc/PID/ns/net), IPv4 and IPv6. SHOAL_ERR_NETNS_NOT_FOUND when the namespace is gone.
 */
export async function listeningTcpPorts(nsPath: string, timeoutMs = 2_000): Promise<Set<number>> {
  const sock: NetlinkSocket = callNative(`open a sock_diag socket in ${nsPath}`, (n) =>
    n.runInNetns(nsPath, () => createNetlink(NETLINK_SOCK_DIAG, { recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER })),
  );
  const out = new Set<number>();
  try {
    for (const family of [AF_INET, AF_INET6]) {
      let msgs: Awaited<ReturnType<NetlinkSocket['request']>>[0];
      try {
        [msgs] = await sock.request(SOCK_DIAG_BY_FAMILY, listenDumpRequest(family), { flags: NLM_F_DUMP, timeout: timeoutMs });
      } catch (err) {
        // a kernel without IPv6 answers the AF_INET6 dump with an error: nothing listens there
        if (family === AF_INET6) continue;
        throw new ShoalError(
          'SHOAL_ERR_NETLINK',
          `sock_diag dump of listening TCP sockets in ${nsPath} failed: ${(err as Error).message}`,
          {
            cause: err,
            details: { nsPath },
          },
        );
      }
      for (const m of msgs) {
        if (m.type !== SOCK_DIAG_BY_FAMILY) continue;
        const port = listeningPortOf(m.data);
        if (port !== undefined) out.add(port);
      }
    }
  } finally {
    sock.close();
  }
  return out;
}
