/**
 * A UDP socket read and written in batches (native/src/datagram.c: recvmmsg and sendmmsg
 * on Node's event loop), with nothing allocated per datagram: the datagrams a turn of the
 * loop finds queued are read into one buffer shared by every socket of the process and
 * handed to `onMessage` as offsets into it, and the answers given during that handler are
 * copied into one send buffer and leave in one system call when it returns. Node's dgram
 * allocates a Buffer, an address string and an info object per datagram received and a
 * request per datagram sent, and at tens of thousands of datagrams a second that garbage
 * sets the tail latency.
 *
 * Addresses are IPv4 as unsigned 32-bit numbers (parseV4, formatV4 in common/ip.ts).
 *
 * The bytes handed to `onMessage` are valid until it returns (the next datagram reuses
 * them): a handler that answers later copies what it needs.
 */
import { callNative, type NativeAddon } from './native.ts';

/** Datagrams read or written per system call. */
export const DATAGRAM_BATCH = 64;
/** The longest datagram read whole; a longer one is reported cut (length -1). */
export const DATAGRAM_SLOT = 4096;
/** The longest datagram that can be sent. */
export const DATAGRAM_MAX_SEND = 65507;

export interface DatagramHandlers {
  /** One datagram: `buf[start, end)`, from `address`:`port`; `end` is -1 when it was cut. */
  onMessage(buf: Buffer, start: number, end: number, address: number, port: number): void;
  /** A failed read or poll (the socket stays open unless `fatal`). */
  onError(err: Error, fatal: boolean): void;
  /** Datagrams the kernel refused to send (a full socket buffer), counted in stats.sendFailed too. */
  onSendFailed?(count: number): void;
}

const recvBuf = Buffer.allocUnsafe(DATAGRAM_BATCH * DATAGRAM_SLOT);
const recvMeta = new Int32Array(DATAGRAM_BATCH * 3);
/** One pending batch of sends at a time, for the socket whose handler runs (or none). */
const sendBuf = Buffer.allocUnsafe(Math.max(DATAGRAM_BATCH * DATAGRAM_SLOT, DATAGRAM_MAX_SEND));
const sendMeta = new Int32Array(DATAGRAM_BATCH * 4);
let pendingOwner: DatagramSocket | undefined;
let pendingCount = 0;
let pendingBytes = 0;

export interface DatagramStats {
  received: number;
  sent: number;
  /** Datagrams the kernel refused to send (a full socket buffer). */
  sendFailed: number;
  /** Datagrams longer than DATAGRAM_SLOT, handed on as cut. */
  cut: number;
}

export class DatagramSocket {
  readonly stats: DatagramStats = { received: 0, sent: 0, sendFailed: 0, cut: 0 };
  private readonly addon: NativeAddon;
  private handle: unknown;
  private inHandler = false;

  /** Takes `fd` (a bound IPv4 UDP socket): it is closed by close(), or at once if this throws. */
  constructor(
    fd: number,
    private readonly handlers: DatagramHandlers,
  ) {
    const { addon, handle } = callNative('polling a UDP socket', (n) => ({
      addon: n,
      handle: n.datagramOpen(fd, (status) => this.readable(status)),
    }));
    this.addon = addon;
    this.handle = handle;
  }

  /** The local port it is bound to. */
  get port(): number {
    if (this.handle === undefined) throw new Error('the UDP socket is closed');
    return this.addon.datagramLocalPort(this.handle);
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  /**
   * Sends `bytes[0, length)` to address:port: during this socket's onMessage, with the
   * batch, after the handler returns; otherwise at once. Returns false when the socket is
   * closed or the datagram is longer than UDP allows. `bytes` is copied before it returns.
   */
  send(bytes: Uint8Array, address: number, port: number, length = bytes.length): boolean {
    if (this.handle === undefined || length > DATAGRAM_MAX_SEND) return false;
    if (pendingOwner !== undefined && pendingOwner !== this) pendingOwner.flush();
    // the send buffer holds at least one datagram of the longest kind: flushed, it fits
    if (pendingCount === DATAGRAM_BATCH || pendingBytes + length > sendBuf.length) this.flush();
    sendBuf.set(length === bytes.length ? bytes : bytes.subarray(0, length), pendingBytes);
    const m = pendingCount * 4;
    sendMeta[m] = pendingBytes;
    sendMeta[m + 1] = length;
    sendMeta[m + 2] = address | 0;
    sendMeta[m + 3] = port;
    pendingOwner = this;
    pendingCount++;
    pendingBytes += length;
    if (!this.inHandler) this.flush();
    return true;
  }

  /** Stops reading and closes the socket (idempotent); what a handler queued is sent first. */
  close(): void {
    if (this.handle === undefined) return;
    if (pendingOwner === this) this.flush();
    this.addon.datagramClose(this.handle);
    this.handle = undefined;
  }

  private flush(): void {
    if (pendingOwner !== this || pendingCount === 0) return;
    const count = pendingCount;
    pendingOwner = undefined;
    pendingCount = 0;
    pendingBytes = 0;
    if (this.handle === undefined) return;
    this.count(this.addon.datagramSend(this.handle, sendBuf, sendMeta, count), count);
  }

  private count(sent: number, of: number): void {
    this.stats.sent += sent;
    if (sent === of) return;
    this.stats.sendFailed += of - sent;
    this.handlers.onSendFailed?.(of - sent);
  }

  private readable(status: number): void {
    if (status < 0) {
      this.handlers.onError(new Error(`polling a UDP socket failed (libuv status ${status})`), true);
      this.close();
      return;
    }
    let got: number;
    try {
      got = this.addon.datagramRecv(this.handle, recvBuf, DATAGRAM_SLOT, recvMeta);
    } catch (err) {
      this.handlers.onError(err as Error, false);
      return;
    }
    this.inHandler = true;
    try {
      for (let i = 0; i < got && this.handle !== undefined; i++) {
        const len = recvMeta[3 * i]!;
        const start = i * DATAGRAM_SLOT;
        this.stats.received++;
        if (len < 0) this.stats.cut++;
        this.handlers.onMessage(recvBuf, start, len < 0 ? -1 : start + len, recvMeta[3 * i + 1]! >>> 0, recvMeta[3 * i + 2]!);
      }
    } finally {
      this.inHandler = false;
      this.flush();
    }
  }
}
