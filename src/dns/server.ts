/**
 * The resolver's sockets: one process serves every sandbox of its node. For each sandbox, a
 * UDP and a TCP socket on 127.0.0.11 and a free port, opened inside the sandbox's network
 * namespace (native openSocket) and adopted by Node's event loop; the sandbox's redirect
 * (vip/mesh-plan.ts planResolverRedirect) sends 127.0.0.11:53 to them. Each query is decoded
 * (wire.ts), answered by the chain (handler.ts) with the sandbox's networks, and encoded
 * within the transport's budget: 512 bytes over UDP, or the client's EDNS size (at most
 * 4,096); a whole message over TCP.
 *
 * Nothing a client sends can stop the server: a message that does not decode gets FORMERR
 * when its header could be read (BADVERS for an EDNS version it does not speak), a response
 * sent to it (QR set) is dropped without an answer, and the chain never rejects. TCP
 * connections carry any number of queries, answered as they come, and are closed after
 * TCP_IDLE_MS without one.
 *
 * Over UDP, an answer the chain marked reusable is kept per sandbox (answer-cache.ts) while
 * the records stay the same (`generation`, the record index the chain answers from): the
 * same query asked again is answered from those bytes, with its own id, at once.
 */
import { closeSync } from 'node:fs';
import net from 'node:net';
import { asShoalError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { createRng, type Rng } from '../common/rng.ts';
import { DatagramSocket } from '../kernel/datagram.ts';
import { callNative } from '../kernel/native.ts';
import { AnswerCache } from './answer-cache.ts';
import type { DnsTransport, Resolver } from './handler.ts';
import { type AnswerReuse, emptyResponse, type Query, RCODE, type Response } from './message.ts';
import { decodeQuery, encodeResponse, frameTcp, RCODE_BADVERS, TcpFrameReader } from './wire.ts';

export const RESOLVER_LISTEN_ADDRESS = '127.0.0.11';
/** Plain DNS over UDP (RFC 1035 4.2.1). */
const UDP_PLAIN_LIMIT = 512;
/** The most an EDNS client gets over UDP, whatever it offers (fragmentation beyond). */
const UDP_EDNS_MAX = 4096;
const TCP_LIMIT = 65535;
export const TCP_IDLE_MS = 10_000;
/** TCP connections at once per sandbox. */
export const TCP_MAX_CONNECTIONS = 256;

export interface ResolverSandbox {
  id: string;
  /** /run/netns/NAME */
  nsPath: string;
  /** The networks whose names it may resolve. */
  networkIds: readonly string[];
}

export interface ServerStats {
  queries: number;
  /** Messages that did not decode (answered FORMERR/BADVERS when their header could be read). */
  malformed: number;
  /** Messages dropped without an answer (a response sent to us, a header cut short). */
  dropped: number;
  /** UDP answers cut to fit (TC set). */
  truncated: number;
  /** UDP queries answered from the answer cache (counted in `queries` too). */
  reused: number;
  /** UDP answers the kernel refused to send (the socket's send buffer full). */
  unsent: number;
}

export interface DnsServerOptions {
  resolver: Resolver;
  logger: Logger;
  /**
   * The identity of the records the chain answers from now (the record index): answers
   * marked reusable are kept while it stays the same object. Unset: nothing is reused.
   */
  generation?: () => unknown;
  /** Permutes reused sets of tasks; seeded in tests. */
  rng?: Rng;
}

interface Open {
  sandbox: ResolverSandbox;
  udp: DatagramSocket;
  tcp: net.Server;
  udpPort: number;
  tcpPort: number;
  cache: AnswerCache;
}

/** The UDP byte budget for an answer to `q`. */
export function udpLimit(q: Query | undefined): number {
  if (!q?.edns) return UDP_PLAIN_LIMIT;
  return Math.max(UDP_PLAIN_LIMIT, Math.min(UDP_EDNS_MAX, q.edns.udpPayloadSize));
}

/** What to answer to a message that did not decode, or undefined to drop it. */
export function answerToMalformed(err: unknown): Response | undefined {
  const e = asShoalError(err);
  const d = e.details as { id?: unknown; opcode?: unknown; rd?: unknown; cd?: unknown; rcode?: unknown };
  if (e.code === 'SHOAL_ERR_DNS_NOT_A_QUERY' || typeof d.id !== 'number') return undefined;
  const rcode = e.code === 'SHOAL_ERR_DNS_BAD_EDNS_VERSION' ? RCODE_BADVERS : RCODE.FORMERR;
  const q: Query = {
    id: d.id,
    opcode: typeof d.opcode === 'number' ? d.opcode : 0,
    rd: d.rd === true,
    cd: d.cd === true,
    question: { name: '', type: 0, class: 0 },
    ...(rcode === RCODE_BADVERS ? { edns: { udpPayloadSize: UDP_PLAIN_LIMIT, dnssecOk: false } } : {}),
  };
  return { ...emptyResponse(q, rcode), question: undefined };
}

export class DnsServer {
  private readonly resolver: Resolver;
  private readonly logger: Logger;
  private readonly generation: (() => unknown) | undefined;
  private readonly rng: Rng;
  private readonly open = new Map<string, Open>();
  readonly stats: ServerStats = { queries: 0, malformed: 0, dropped: 0, truncated: 0, reused: 0, unsent: 0 };

  constructor(o: DnsServerOptions) {
    this.resolver = o.resolver;
    this.logger = o.logger;
    this.generation = o.generation;
    this.rng = o.rng ?? createRng();
  }

  /** The ports of a sandbox whose sockets are open. */
  ports(id: string): { udpPort: number; tcpPort: number } | undefined {
    const o = this.open.get(id);
    return o ? { udpPort: o.udpPort, tcpPort: o.tcpPort } : undefined;
  }

  /** Sandboxes served now. */
  sandboxes(): string[] {
    return [...this.open.keys()];
  }

  /**
   * Opens (or keeps) a sandbox's sockets and returns their ports; a sandbox already open
   * only gets its networks updated.
   */
  async serve(sb: ResolverSandbox): Promise<{ udpPort: number; tcpPort: number }> {
    const have = this.open.get(sb.id);
    if (have && have.sandbox.nsPath === sb.nsPath) {
      // its answers were for the networks it had
      if (have.sandbox.networkIds.join('\u0000') !== sb.networkIds.join('\u0000')) have.cache.clear();
      have.sandbox = sb;
      return { udpPort: have.udpPort, tcpPort: have.tcpPort };
    }
    if (have) this.stop(sb.id);
    const fds = callNative(`opening the resolver's sockets in ${sb.nsPath}`, (n) => {
      const udpFd = n.openSocket(sb.nsPath, n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, RESOLVER_LISTEN_ADDRESS, 0);
      const tcpFd = n.openSocket(sb.nsPath, n.constants.AF_INET, n.constants.SOCK_STREAM, 0, RESOLVER_LISTEN_ADDRESS, 0);
      return { udpFd, tcpFd };
    });
    const tcp = net.createServer();
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    let entry: Open | undefined;
    let udp: DatagramSocket;
    try {
      udp = new DatagramSocket(fds.udpFd, {
        onMessage: (buf, start, end, address, port) => {
          if (entry) this.onUdp(entry, buf, start, end, address, port);
        },
        onError: (err, fatal) =>
          this.logger.warn({ err, sandbox: sb.id }, fatal ? "the resolver's UDP socket failed: it is closed" : 'resolver UDP socket error'),
        onSendFailed: (n) => {
          this.stats.unsent += n;
        },
      });
    } catch (err) {
      closeSync(fds.tcpFd);
      throw asShoalError(err);
    }
    await new Promise<void>((resolve) => tcp.listen({ fd: fds.tcpFd }, resolve));
    entry = {
      sandbox: sb,
      udp,
      tcp,
      udpPort: udp.port,
      tcpPort: (tcp.address() as net.AddressInfo).port,
      cache: new AnswerCache(this.rng),
    };
    tcp.on('connection', (c) => this.onTcp(entry, c));
    tcp.on('error', (err) => this.logger.warn({ err, sandbox: sb.id }, 'resolver TCP socket error'));
    this.open.set(sb.id, entry);
    return { udpPort: entry.udpPort, tcpPort: entry.tcpPort };
  }

  /** Closes a sandbox's sockets (idempotent). */
  stop(id: string): void {
    const o = this.open.get(id);
    if (!o) return;
    this.open.delete(id);
    o.udp.close();
    o.tcp.close();
  }

  close(): void {
    for (const id of [...this.open.keys()]) this.stop(id);
  }

  /** The encoded answer to one message, or undefined to send nothing. */
  async answer(entry: Open, msg: Uint8Array, transport: DnsTransport): Promise<Uint8Array | undefined> {
    return (await this.respond(entry, msg, transport)).out;
  }

  /** The encoded answer and how it may be reused (never when truncated or not marked by the chain). */
  private async respond(entry: Open, msg: Uint8Array, transport: DnsTransport): Promise<{ out?: Uint8Array; reuse?: AnswerReuse }> {
    let query: Query;
    try {
      query = decodeQuery(msg);
    } catch (err) {
      const r = answerToMalformed(err);
      if (r) this.stats.malformed++;
      else this.stats.dropped++;
      return r ? { out: encodeResponse(r, transport === 'udp' ? UDP_PLAIN_LIMIT : TCP_LIMIT) } : {};
    }
    this.stats.queries++;
    const r = await this.resolver({ query, sandboxId: entry.sandbox.id, networkIds: entry.sandbox.networkIds, transport });
    try {
      const out = encodeResponse(r, transport === 'udp' ? udpLimit(query) : TCP_LIMIT);
      const truncated = out.length >= 3 && (out[2]! & 0x02) !== 0;
      if (transport === 'udp' && truncated) this.stats.truncated++;
      return truncated || r.reuse === undefined ? { out } : { out, reuse: r.reuse };
    } catch (err) {
      this.logger.warn({ err, sandbox: entry.sandbox.id, name: query.question.name }, 'resolver answer could not be encoded');
      return { out: encodeResponse(emptyResponse(query, RCODE.SERVFAIL), UDP_PLAIN_LIMIT) };
    }
  }

  /** One UDP query, `buf[start, end)` (end -1: longer than a query may be), valid only during this call. */
  private onUdp(entry: Open, buf: Buffer, start: number, end: number, address: number, port: number): void {
    if (end < 0) {
      // longer than any query: not worth an answer
      this.stats.dropped++;
      return;
    }
    const generation = this.generation?.();
    const kept = generation === undefined ? -1 : entry.cache.answerInto(buf, start, end, generation);
    if (kept >= 0) {
      this.stats.queries++;
      this.stats.reused++;
      entry.udp.send(entry.cache.out, address, port, kept);
      return;
    }
    // a copy: the shared receive buffer holds the next datagram before the chain answers
    void this.answerUdp(entry, Uint8Array.from(buf.subarray(start, end)), address, port, generation);
  }

  private async answerUdp(entry: Open, msg: Uint8Array, address: number, port: number, generation: unknown): Promise<void> {
    const { out, reuse } = await this.respond(entry, msg, 'udp');
    if (!out || !this.open.has(entry.sandbox.id)) return;
    if (reuse && generation !== undefined && generation === this.generation?.()) entry.cache.put(msg, generation, out, reuse);
    entry.udp.send(out, address, port);
  }

  private onTcp(entry: Open, c: net.Socket): void {
    const reader = new TcpFrameReader();
    let pending = 0;
    let closing = false;
    c.setTimeout(TCP_IDLE_MS, () => c.destroy());
    c.on('error', () => c.destroy());
    c.on('data', (chunk: Buffer) => {
      if (closing) return;
      try {
        reader.push(chunk);
      } catch {
        c.destroy();
        return;
      }
      for (let m = reader.next(); m !== undefined && !closing; m = reader.next()) {
        pending++;
        void this.answer(entry, m, 'tcp').then((out) => {
          pending--;
          if (out && !c.destroyed) c.write(frameTcp(out));
          // a response sent to a resolver: nothing more is read, and the connection ends
          // once the answers to the queries before it are written
          else if (!out) closing = true;
          if (closing && pending === 0) c.end();
        });
      }
    });
  }
}
