/**
 * Exact encoded sizes of gossip messages and packets, computed arithmetically from the
 * protobuf rules (proto3: fields that hold their default cost nothing; a length-delimited
 * field is tag, varint length, bytes), so the state machines can fill datagrams without
 * encoding anything. wire-codec.ts produces the bytes these functions count; a unit test
 * holds the two equal for random messages, including non-ASCII and lone-surrogate text.
 *
 * Every field number in proto/gossip.proto is below 16, so every tag is one byte.
 */
import { ENVELOPE_OVERHEAD } from './envelope.ts';
import type { GossipMessage } from './messages.ts';

/** Bytes of the base-128 varint encoding of a non-negative integer up to 2^53. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** UTF-8 length of a string (lone surrogates count 3, as the encoder writes U+FFFD). */
export function utf8Length(v: string): number {
  let n = v.length;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length && (v.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 units
      i++;
    } else n += 2;
  }
  return n;
}

function strField(v: string): number {
  if (v.length === 0) return 0;
  const len = utf8Length(v);
  return 1 + varintSize(len) + len;
}

function numField(v: number): number {
  return v === 0 ? 0 : 1 + varintSize(v);
}

function boolField(v: boolean): number {
  return v ? 2 : 0;
}

function bytesField(len: number): number {
  return len === 0 ? 0 : 1 + varintSize(len) + len;
}

/** A sub-message field: present even when empty (a oneof member, or a repeated entry). */
function subField(len: number): number {
  return 1 + varintSize(len) + len;
}

/** Messages are immutable and shared (queues, packets, simulated nodes): size them once. */
const sizeCache = new WeakMap<GossipMessage, number>();

/** Exact length of the protobuf encoding of one Message (encodeMessage() in wire-codec.ts). */
export function messageSize(m: GossipMessage): number {
  let size = sizeCache.get(m);
  if (size === undefined) {
    size = computeMessageSize(m);
    sizeCache.set(m, size);
  }
  return size;
}

function computeMessageSize(m: GossipMessage): number {
  let body: number;
  switch (m.kind) {
    case 'ping':
      body = numField(m.seq) + strField(m.target);
      break;
    case 'indirect-ping':
      body = numField(m.seq) + strField(m.target) + strField(m.targetAddr) + boolField(m.wantNack);
      break;
    case 'ack':
    case 'nack':
      body = numField(m.seq);
      break;
    case 'alive':
      body = strField(m.node) + strField(m.addr) + numField(m.incarnation) + numField(m.protocolMin) + numField(m.protocolMax);
      break;
    case 'suspect':
    case 'dead':
      body = strField(m.node) + numField(m.incarnation) + strField(m.from);
      break;
    case 'network':
      body = strField(m.node) + strField(m.network) + numField(m.ltime) + boolField(m.joined);
      break;
    case 'table':
      body =
        strField(m.network) +
        strField(m.table) +
        strField(m.key) +
        strField(m.owner) +
        numField(m.ltime) +
        boolField(m.deleted) +
        bytesField(m.value.length) +
        numField(m.reapInMs);
      break;
  }
  return subField(body);
}

/** Bytes one message adds to a Packet (tag, length, body). */
export function framedSize(m: GossipMessage): number {
  return subField(messageSize(m));
}

/** Bytes of a Packet header carrying this sender name. */
export function packetHeaderSize(from: string): number {
  return strField(from);
}

/** Room for framed messages in one datagram of `packetBytes`, envelope and header included. */
export function packetBudget(packetBytes: number, from: string): number {
  return packetBytes - ENVELOPE_OVERHEAD - packetHeaderSize(from);
}

/** Exact encoded size of a Packet (encodePacket() in wire-codec.ts), envelope excluded. */
export function packetSize(from: string, messages: readonly GossipMessage[]): number {
  let size = packetHeaderSize(from);
  for (const m of messages) size += framedSize(m);
  return size;
}
