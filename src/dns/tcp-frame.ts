/**
 * DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): each message preceded by its length
 * in two bytes. Used through wire.ts.
 */
import { dnsError } from './errors.ts';
import { RCODE } from './message.ts';

/** TCP's 16-bit length. */
const MAX_MESSAGE = 65535;

const u16 = (buf: Uint8Array, p: number): number => (buf[p]! << 8) | buf[p + 1]!;

/** A message with the 2-byte length prefix of DNS over TCP (RFC 1035 4.2.2). */
export function frameTcp(msg: Uint8Array): Uint8Array {
  if (msg.length > MAX_MESSAGE) {
    throw dnsError('SHOAL_ERR_DNS_BAD_MESSAGE', `cannot frame a DNS message of ${msg.length} bytes: TCP frames hold 65,535`, {
      bytes: msg.length,
    });
  }
  const framed = Buffer.allocUnsafe(msg.length + 2);
  framed[0] = msg.length >>> 8;
  framed[1] = msg.length & 0xff;
  framed.set(msg, 2);
  return framed;
}

/**
 * Cuts a TCP byte stream into messages: push() what the socket delivers, then next() until
 * it says undefined. A frame of length 0 holds no message (a message has a 12-byte header)
 * and is skipped, counted in `emptyFrames`, the stream staying in step. When the stream
 * ends, end() refuses a message left incomplete. At most one incomplete message (65,537
 * bytes) plus what one push() brought is held.
 */
export class TcpFrameReader {
  private buf = new Uint8Array(4096);
  private head = 0;
  private tail = 0;
  /** Frames of length 0 seen and skipped. */
  emptyFrames = 0;

  /** Appends a chunk of the stream. */
  push(chunk: Uint8Array): void {
    const held = this.tail - this.head;
    if (this.tail + chunk.length > this.buf.length) {
      if (held + chunk.length > this.buf.length) {
        const bigger = new Uint8Array(Math.max(this.buf.length * 2, held + chunk.length));
        bigger.set(this.buf.subarray(this.head, this.tail));
        this.buf = bigger;
      } else {
        this.buf.copyWithin(0, this.head, this.tail);
      }
      this.head = 0;
      this.tail = held;
    }
    this.buf.set(chunk, this.tail);
    this.tail += chunk.length;
  }

  /** The next complete message (a copy), or undefined until more of the stream arrives. */
  next(): Uint8Array | undefined {
    for (;;) {
      const held = this.tail - this.head;
      if (held < 2) return undefined;
      const len = u16(this.buf, this.head);
      if (len === 0) {
        this.head += 2;
        this.emptyFrames++;
        continue;
      }
      if (held < 2 + len) return undefined;
      const msg = this.buf.slice(this.head + 2, this.head + 2 + len);
      this.head += 2 + len;
      if (this.head === this.tail) this.head = this.tail = 0;
      return msg;
    }
  }

  /** Bytes held of a message not yet complete (its length prefix included). */
  get pending(): number {
    return this.tail - this.head;
  }

  /** The stream ended: refuses a message cut off in the middle (SHOAL_ERR_DNS_MALFORMED). */
  end(): void {
    const held = this.tail - this.head;
    if (held === 0) return;
    const expected = held >= 2 ? u16(this.buf, this.head) + 2 : undefined;
    throw dnsError('SHOAL_ERR_DNS_MALFORMED', `the TCP stream ended ${held} bytes into a frame`, {
      rcode: RCODE.FORMERR,
      pendingBytes: held,
      ...(expected === undefined ? {} : { frameBytes: expected }),
    });
  }
}
