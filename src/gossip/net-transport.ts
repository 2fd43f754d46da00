/**
 * NetTransport: gossip over real sockets. Datagrams over UDP; streams over TCP, one
 * connection per exchange, each frame preceded by its length (4 bytes, big endian). The
 * UDP socket and the TCP listener share one port, so a member's single "host:port" address
 * serves both.
 *
 * Sockets come from one of three places, because the agent opens its sockets inside network
 * namespaces through the native addon:
 *   { bind: { host, port } }       bind here (port 0: pick a free port for both);
 *   { sockets: { udp, tcp } }      adopt a bound dgram.Socket and a listening net.Server
 *                                  (e.g. made with socket.bind({ fd }) / server.listen({ fd }));
 *   { fds: { udp, tcp } }          adopt raw descriptors and wrap them here.
 *
 * Input is bounded: a frame longer than maxFrameBytes closes the connection; a stream that
 * has not delivered its frame within serverTimeoutMs is closed. Errors never escape: sends
 * that fail and connections that break are counted.
 */
import dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import net from 'node:net';
import { gossipError } from './errors.ts';
import { joinAddress, splitAddress, type RequestCallback, type Transport, type TransportHandlers } from './transport.ts';

export interface NetTransportStats {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  sendErrors: number;
  streamsServed: number;
  streamsRequested: number;
  streamErrors: number;
  oversizedFrames: number;
  handlerErrors: number;
}

interface CommonOptions {
  /** Address announced to others; default the bound address. Required when bound to a wildcard. */
  readonly advertise?: string;
  /** Largest frame accepted or sent, bytes (the gossip config's maxFrameBytes). */
  readonly maxFrameBytes?: number;
  /** A served stream must deliver its request within this, ms. */
  readonly serverTimeoutMs?: number;
}

export type NetTransportOptions =
  | (CommonOptions & { readonly bind: { readonly host: string; readonly port: number } })
  | (CommonOptions & { readonly sockets: { readonly udp: dgram.Socket; readonly tcp: net.Server } })
  | (CommonOptions & { readonly fds: { readonly udp: number; readonly tcp: number; readonly family?: 4 | 6 } });

const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

export class NetTransport implements Transport {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private handlers: TransportHandlers<Uint8Array, Uint8Array> | undefined;
  private readonly open = new Set<net.Socket>();
  private readonly parsed = new Map<string, { host: string; port: number }>();
  private closed = false;
  private addr = '';
  private readonly maxFrameBytes: number;
  private readonly serverTimeoutMs: number;
  readonly stats: NetTransportStats = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    sendErrors: 0,
    streamsServed: 0,
    streamsRequested: 0,
    streamErrors: 0,
    oversizedFrames: 0,
    handlerErrors: 0,
  };

  constructor(private readonly options: NetTransportOptions) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    this.serverTimeoutMs = options.serverTimeoutMs ?? 30_000;
  }

  get address(): string {
    return this.addr;
  }

  async start(handlers: TransportHandlers<Uint8Array, Uint8Array>): Promise<void> {
    this.handlers = handlers;
    const o = this.options;
    try {
      if ('bind' in o) await this.bindBoth(o.bind.host, o.bind.port);
      else if ('sockets' in o) {
        this.udp = o.sockets.udp;
        this.tcp = o.sockets.tcp;
      } else {
        await this.adoptFds(o.fds.udp, o.fds.tcp, o.fds.family ?? 4);
      }
    } catch (err) {
      throw gossipError('SHOAL_ERR_GOSSIP_TRANSPORT', `cannot open gossip sockets: ${(err as Error).message}`, {}, err);
    }
    const udp = this.udp!;
    const tcp = this.tcp!;
    udp.on('message', (msg, rinfo) => {
      if (this.closed) return;
      this.stats.packetsReceived++;
      this.stats.bytesReceived += msg.length;
      try {
        this.handlers?.packet(joinAddress(rinfo.address, rinfo.port), msg);
      } catch {
        this.stats.handlerErrors++; // never let one datagram take the socket down
      }
    });
    udp.on('error', () => {
      this.stats.sendErrors++;
    });
    tcp.on('connection', (socket) => this.serve(socket));
    tcp.on('error', () => {
      this.stats.streamErrors++;
    });
    const bound = udp.address();
    this.addr = o.advertise ?? joinAddress(bound.address, bound.port);
  }

  sendPacket(to: string, data: Uint8Array): void {
    if (this.closed || !this.udp) return;
    const dst = this.resolve(to);
    if (!dst) {
      this.stats.sendErrors++;
      return;
    }
    this.stats.packetsSent++;
    this.stats.bytesSent += data.length;
    this.udp.send(data, dst.port, dst.host, (err) => {
      if (err) this.stats.sendErrors++;
    });
  }

  request(to: string, frame: Uint8Array, timeoutMs: number, done: RequestCallback<Uint8Array>): void {
    const dst = this.resolve(to);
    if (this.closed || !dst) {
      done(gossipError('SHOAL_ERR_GOSSIP_STREAM', this.closed ? 'transport closed' : `bad address ${to}`, { to }), undefined);
      return;
    }
    if (frame.length > this.maxFrameBytes) {
      done(gossipError('SHOAL_ERR_GOSSIP_STREAM', `frame of ${frame.length} bytes exceeds maxFrameBytes`, { to }), undefined);
      return;
    }
    this.stats.streamsRequested++;
    let finished = false;
    const socket = net.connect({ host: dst.host, port: dst.port });
    this.open.add(socket);
    const finish = (err: Error | undefined, reply: Uint8Array | undefined): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.open.delete(socket);
      socket.destroy();
      if (err) this.stats.streamErrors++;
      done(err, reply);
    };
    const timer = setTimeout(
      () => finish(gossipError('SHOAL_ERR_GOSSIP_STREAM', `stream to ${to} timed out`, { to }), undefined),
      timeoutMs,
    );
    timer.unref?.();
    socket.setNoDelay(true);
    socket.on('connect', () => {
      socket.write(lengthPrefix(frame.length));
      socket.write(frame);
    });
    readFrame(socket, this.maxFrameBytes, (err, reply) => {
      if (err === 'oversized') this.stats.oversizedFrames++;
      if (reply) finish(undefined, reply);
      else finish(gossipError('SHOAL_ERR_GOSSIP_STREAM', `stream to ${to} failed: ${err ?? 'closed'}`, { to }), undefined);
    });
    socket.on('error', (err) =>
      finish(gossipError('SHOAL_ERR_GOSSIP_STREAM', `stream to ${to} failed: ${err.message}`, { to }, err), undefined),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.open) s.destroy();
    this.open.clear();
    const udp = this.udp;
    const tcp = this.tcp;
    await Promise.all([
      udp
        ? new Promise<void>((resolve) => {
            try {
              udp.close(() => resolve());
            } catch {
              resolve();
            }
          })
        : Promise.resolve(),
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : Promise.resolve(),
    ]);
  }

  private serve(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.open.add(socket);
    this.stats.streamsServed++;
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(), this.serverTimeoutMs);
    timer.unref?.();
    const from = joinAddress(socket.remoteAddress ?? '', socket.remotePort ?? 0);
    socket.on('close', () => {
      clearTimeout(timer);
      this.open.delete(socket);
    });
    socket.on('error', () => {
      this.stats.streamErrors++;
    });
    readFrame(socket, this.maxFrameBytes, (err, frame) => {
      if (!frame) {
        if (err === 'oversized') this.stats.oversizedFrames++;
        socket.destroy();
        return;
      }
      this.stats.bytesReceived += frame.length;
      try {
        this.handlers?.request(from, frame, (reply) => {
          if (reply === undefined || socket.destroyed) {
            socket.destroy();
            return;
          }
          socket.write(lengthPrefix(reply.length));
          socket.end(reply);
        });
      } catch {
        this.stats.handlerErrors++;
        socket.destroy();
      }
    });
  }

  private resolve(addr: string): { host: string; port: number } | undefined {
    let r = this.parsed.get(addr);
    if (!r) {
      r = splitAddress(addr);
      if (!r) return undefined;
      if (this.parsed.size > 65_536) this.parsed.clear();
      this.parsed.set(addr, r);
    }
    return r;
  }

  private async bindBoth(host: string, port: number): Promise<void> {
    const type = net.isIPv6(host) ? 'udp6' : 'udp4';
    let lastErr: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      const tcp = net.createServer();
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host, port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      const chosen = (tcp.address() as net.AddressInfo).port;
      const udp = dgram.createSocket({ type });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: host, port: chosen, exclusive: true }, () => {
            udp.off('error', reject);
            resolve();
          });
        });
        this.udp = udp;
        this.tcp = tcp;
        return;
      } catch (err) {
        lastErr = err;
        udp.close();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        if (port !== 0) break; // a fixed port that is taken will stay taken
      }
    }
    throw lastErr;
  }

  private async adoptFds(udpFd: number, tcpFd: number, family: 4 | 6): Promise<void> {
    const udp = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ fd: udpFd }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ fd: tcpFd }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    this.tcp = tcp;
  }
}

function lengthPrefix(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/**
 * Reads one length-prefixed frame; calls back once with it or with why not. Holds at most
 * 4 + max bytes plus the last chunk. Exported for the fuzzer, which feeds it chunks.
 */
export function readFrame(
  socket: Pick<EventEmitter, 'on' | 'off'>,
  max: number,
  cb: (err: string | undefined, frame: Uint8Array | undefined) => void,
): void {
  const chunks: Buffer[] = [];
  let have = 0;
  let need = -1;
  let done = false;
  const finish = (err: string | undefined, frame: Uint8Array | undefined): void => {
    if (done) return;
    done = true;
    socket.off('data', onData);
    cb(err, frame);
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    have += chunk.length;
    if (need < 0 && have >= 4) {
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      need = head.readUInt32BE(0);
      if (need === 0 || need > max) {
        finish('oversized', undefined);
        return;
      }
    }
    if (need >= 0 && have >= 4 + need) {
      const all = Buffer.concat(chunks, have);
      finish(undefined, all.subarray(4, 4 + need));
    }
  };
  socket.on('data', onData);
  socket.on('end', () => finish('closed', undefined));
  socket.on('close', () => finish('closed', undefined));
}
