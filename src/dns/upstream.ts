/**
 * Upstream resolvers for the forwarder (handlers/forward.ts): which ones a sandbox uses, and
 * each one as an Upstream over the sandbox's own transport (upstream-transport.ts).
 *
 * Which: a service's `--dns` servers when it has some, otherwise the host's resolvers from
 * its resolv.conf, at most three (as glibc reads them). Loopback resolvers of the host
 * (systemd-resolved's 127.0.0.53, a local dnsmasq) are left out: a sandbox has loopback of
 * its own, where they do not run. A sandbox only on internal networks gets none: nothing
 * is forwarded from an internal network.
 */
import net from 'node:net';
import type { DnsTransport } from './handler.ts';
import type { Upstream } from './handlers/forward.ts';
import type { Query, Response } from './message.ts';
import type { NetnsDnsTransport, UpstreamAddress } from './upstream-transport.ts';
import { decodeResponse, encodeQuery } from './wire.ts';

/** The most upstreams a sandbox uses, tried in turn (glibc's MAXNS). */
export const MAX_UPSTREAMS = 3;
/** How long a transport keeps waiting for an answer the forwarder may have given up on. */
const TRANSPORT_TIMEOUT_MS = 5_000;

/** `nameserver` addresses of a resolv.conf, in order (a zone index like `%eth0` dropped). */
export function resolvConfNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = m[1]!.replace(/%.*$/, '');
    if (net.isIP(addr) !== 0) out.push(addr);
  }
  return out;
}

function loopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1';
}

/** A server as `ADDR`, `ADDR:PORT` or `[V6]:PORT` (port 53 when none). */
export function parseUpstream(text: string): UpstreamAddress | undefined {
  if (net.isIP(text) !== 0) return { address: text, port: 53 };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m || net.isIP(m[1]!) === 0) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { address: m[1]!, port } : undefined;
}

/**
 * The upstreams of a sandbox: `dns` (the service's `--dns`, or a container's) when given,
 * else the host's (loopback ones left out); none when `internal` (every network of the
 * sandbox is internal). At most MAX_UPSTREAMS.
 */
export function sandboxUpstreams(o: { dns: readonly string[]; hostResolvConf: string; internal: boolean }): UpstreamAddress[] {
  if (o.internal) return [];
  const given = o.dns.map(parseUpstream).filter((u): u is UpstreamAddress => u !== undefined);
  const list =
    given.length > 0
      ? given
      : resolvConfNameservers(o.hostResolvConf)
          .filter((a) => !loopback(a))
          .map((address) => ({ address, port: 53 }));
  return list.slice(0, MAX_UPSTREAMS);
}

/** One upstream reached through a sandbox's transport. */
export class TransportUpstream implements Upstream {
  readonly name: string;
  constructor(
    private readonly transport: NetnsDnsTransport,
    private readonly server: UpstreamAddress,
  ) {
    this.name = server.address.includes(':') ? `[${server.address}]:${server.port}` : `${server.address}:${server.port}`;
  }

  async exchange(query: Query, transport: DnsTransport): Promise<Response> {
    const bytes = encodeQuery(query);
    const answer =
      transport === 'tcp'
        ? await this.transport.exchangeTcp(this.server, bytes, TRANSPORT_TIMEOUT_MS)
        : await this.transport.exchangeUdp(this.server, bytes, TRANSPORT_TIMEOUT_MS);
    return decodeResponse(answer);
  }
}
