/**
 * The way out to a sandbox's upstream resolvers: DNS messages (bytes) sent from inside the
 * sandbox's network namespace, so a forwarded query leaves by the sandbox's own route (its
 * gateway bridge, its egress NAT) as the task's own queries would, and an internal network
 * has no way out at all.
 *
 * - UDP: one socket per sandbox, opened in its namespace (native openSocket) and adopted by
 *   Node; each query gets a fresh random id (so answers of concurrent queries, and late
 *   answers of given-up ones, cannot be confused) and the client's id is put back in the
 *   answer. Only an answer from the server the query went to, with a pending id, counts.
 * - TCP: one connection per query, from a socket opened in the namespace, the message with
 *   its two-byte length, the answer read the same way.
 *
 * Every exchange has a deadline; a given-up query's id is freed at once.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { ShoalError } from '../common/errors.ts';
import { callNative } from '../kernel/native.ts';
import { dnsError } from './errors.ts';

export interface UpstreamAddress {
  address: string;
  port: number;
}

interface Pending {
  resolve: (answer: Uint8Array) => void;
  reject: (err: Error) => void;
  clientId: number;
  server: string;
  timer: NodeJS.Timeout;
}

function family(address: string): 4 | 6 {
  const f = net.isIP(address);
  if (f !== 4 && f !== 6) throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `upstream ${JSON.stringify(address)} is not an IP address`);
  return f;
}

function serverKey(address: string, port: number): string {
  return `${address}|${port}`;
}

function timeoutError(what: string, ms: number): ShoalError {
  return new ShoalError('SHOAL_ERR_TIMEOUT', `${what}: no answer within ${ms} ms`);
}

/** DNS over UDP and TCP from inside one network namespace. */
export class NetnsDnsTransport {
  readonly nsPath: string | null;
  private udp4: dgram.Socket | undefined;
  private udp6: dgram.Socket | undefined;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  /** `nsPath`: /run/netns/NAME, or null for the namespace this process runs in. */
  constructor(nsPath: string | null) {
    this.nsPath = nsPath;
  }

  /** Queries in flight over UDP (tests, stats). */
  get inFlight(): number {
    return this.pending.size;
  }

  private udpSocket(f: 4 | 6): dgram.Socket {
    const have = f === 4 ? this.udp4 : this.udp6;
    if (have) return have;
    const fd = callNative('opening a DNS client socket in the sandbox', (n) =>
      n.openSocket(this.nsPath, f === 4 ? n.constants.AF_INET : n.constants.AF_INET6, n.constants.SOCK_DGRAM, 0, null, 0),
    );
    const s = dgram.createSocket(f === 4 ? 'udp4' : 'udp6');
    s.bind({ fd });
    s.on('message', (msg, rinfo) => this.onAnswer(msg, rinfo));
    s.on('error', () => {
      // a send error reaches the query's own callback; the socket stays for the next ones
    });
    if (f === 4) this.udp4 = s;
    else this.udp6 = s;
    return s;
  }

  private onAnswer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    if (!p || p.server !== serverKey(rinfo.address, rinfo.port)) return; // not ours, or spoofed
    this.pending.delete(id);
    clearTimeout(p.timer);
    const answer = Uint8Array.from(msg);
    answer[0] = p.clientId >> 8;
    answer[1] = p.clientId & 0xff;
    p.resolve(answer);
  }

  private freshId(): number {
    for (let i = 0; i < 64; i++) {
      const id = randomInt(0, 0x10000);
      if (!this.pending.has(id)) return id;
    }
    throw dnsError('SHOAL_ERR_DNS_UPSTREAM', 'too many DNS queries in flight from one sandbox');
  }

  /** Sends `query` (a whole DNS message) over UDP; resolves with the answer, its id the query's. */
  exchangeUdp(server: UpstreamAddress, query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new ShoalError('SHOAL_ERR_CLOSED', 'the DNS transport is closed'));
    if (query.length < 12) return Promise.reject(new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', 'a DNS message has a 12-byte header'));
    let socket: dgram.Socket;
    try {
      socket = this.udpSocket(family(server.address));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const id = this.freshId();
      const out = Buffer.from(query);
      const clientId = out.readUInt16BE(0);
      out.writeUInt16BE(id, 0);
      const timer = setTimeout(() => {
        if (this.pending.get(id)?.timer !== timer) return;
        this.pending.delete(id);
        reject(timeoutError(`DNS over UDP to ${server.address}:${server.port}`, timeoutMs));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, clientId, server: serverKey(server.address, server.port), timer });
      socket.send(out, server.port, server.address, (err) => {
        if (!err) return;
        const p = this.pending.get(id);
        if (!p || p.timer !== timer) return;
        this.pending.delete(id);
        clearTimeout(timer);
        reject(dnsError('SHOAL_ERR_DNS_UPSTREAM', `DNS over UDP to ${server.address}:${server.port}: ${err.message}`, { cause: err }));
      });
    });
  }

  /** Sends `query` over a TCP connection of its own; resolves with the answer (the query's id). */
  exchangeTcp(server: UpstreamAddress, query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new ShoalError('SHOAL_ERR_CLOSED', 'the DNS transport is closed'));
    if (query.length > 0xffff)
      return Promise.reject(new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', 'a DNS message over TCP is at most 65535 bytes'));
    let fd: number;
    try {
      const f = family(server.address);
      fd = callNative('opening a DNS client socket in the sandbox', (n) =>
        n.openSocket(this.nsPath, f === 4 ? n.constants.AF_INET : n.constants.AF_INET6, n.constants.SOCK_STREAM, 0, null, 0),
      );
    } catch (err) {
      return Promise.reject(err);
    }
    const what = `DNS over TCP to ${server.address}:${server.port}`;
    return new Promise<Uint8Array>((resolve, reject) => {
      const socket = new net.Socket({ fd, readable: true, writable: true });
      const chunks: Buffer[] = [];
      let length = 0;
      let settled = false;
      const finish = (err: Error | undefined, answer?: Uint8Array): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(answer!);
      };
      const timer = setTimeout(() => finish(timeoutError(what, timeoutMs)), timeoutMs);
      timer.unref();
      socket.on('error', (err) => finish(dnsError('SHOAL_ERR_DNS_UPSTREAM', `${what}: ${err.message}`, { cause: err })));
      socket.on('data', (b: Buffer) => {
        chunks.push(b);
        length += b.length;
        if (length < 2) return;
        const all = Buffer.concat(chunks);
        const size = all.readUInt16BE(0);
        if (all.length >= 2 + size) finish(undefined, Uint8Array.from(all.subarray(2, 2 + size)));
      });
      socket.on('end', () => finish(dnsError('SHOAL_ERR_DNS_UPSTREAM', `${what}: the connection closed before a whole answer`)));
      socket.connect(server.port, server.address, () => {
        const framed = Buffer.alloc(2 + query.length);
        framed.writeUInt16BE(query.length, 0);
        framed.set(query, 2);
        socket.write(framed);
      });
    });
  }

  /** Closes the sockets; queries in flight fail. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ShoalError('SHOAL_ERR_CLOSED', 'the DNS transport was closed'));
      this.pending.delete(id);
    }
    this.udp4?.close();
    this.udp6?.close();
  }
}
