/**
 * EndpointRecord (proto/endpoint.proto): the value each agent publishes per endpoint into
 * a network's gossip table "endpoints", in protobuf's proto3 wire format written by hand.
 *
 * Every field is a string (wire type 2), so the codec is small and needs no schema at run
 * time; a unit test holds it to the .proto with protobufjs in both directions. Encoding
 * writes fields in number order and leaves empty strings out, as proto3 does. Decoding
 * skips fields it does not know (any wire type but the deprecated groups), keeps the last
 * value of a repeated scalar field, appends every `aliases`, and throws
 * SHOAL_ERR_OVERLAY_BAD_RECORD on anything malformed: a truncated field, a varint over
 * 10 bytes, field number 0, a group, a known field with another wire type, or text that
 * is not UTF-8.
 */
import { overlayError } from './errors.ts';

export interface EndpointRecord {
  endpointId: string;
  networkId: string;
  /** "task", "container", "lb" or "ingress-sandbox". */
  kind: string;
  nodeId: string;
  /** IPv4 address without prefix length. */
  ip: string;
  mac: string;
  /** The hosting node's underlay address. */
  vtep: string;
  serviceId: string;
  serviceName: string;
  taskId: string;
  /** DNS name of the endpoint. */
  name: string;
  aliases: string[];
  /** "" (no health check), "starting", "healthy" or "unhealthy". */
  health: string;
  /** IPv6 address without prefix length, or "". */
  ipv6: string;
  /** "" (serving) or "draining" (leaving the load balancers: no new connections). */
  state: string;
}

type ScalarField = Exclude<keyof EndpointRecord, 'aliases'>;

/** Field numbers, as proto/endpoint.proto declares them (append-only). */
export const ENDPOINT_RECORD_FIELDS: Readonly<Record<keyof EndpointRecord, number>> = Object.freeze({
  endpointId: 1,
  networkId: 2,
  kind: 3,
  nodeId: 4,
  ip: 5,
  mac: 6,
  vtep: 7,
  serviceId: 8,
  serviceName: 9,
  taskId: 10,
  name: 11,
  aliases: 12,
  health: 13,
  ipv6: 14,
  state: 15,
});

const BY_NUMBER = new Map<number, keyof EndpointRecord>(
  Object.entries(ENDPOINT_RECORD_FIELDS).map(([k, v]) => [v, k as keyof EndpointRecord]),
);
const ORDER = [...BY_NUMBER.keys()].sort((a, b) => a - b).map((n) => BY_NUMBER.get(n)!);

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** A record with every field empty, then `fields`. */
export function endpointRecord(fields: Partial<EndpointRecord> = {}): EndpointRecord {
  return {
    endpointId: '',
    networkId: '',
    kind: '',
    nodeId: '',
    ip: '',
    mac: '',
    vtep: '',
    serviceId: '',
    serviceName: '',
    taskId: '',
    name: '',
    health: '',
    ipv6: '',
    state: '',
    ...fields,
    aliases: [...(fields.aliases ?? [])],
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(out: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[pos++] = v;
  return pos;
}

export function encodeEndpointRecord(r: EndpointRecord): Uint8Array {
  const parts: Array<[number, Uint8Array]> = [];
  for (const field of ORDER) {
    const num = ENDPOINT_RECORD_FIELDS[field];
    if (field === 'aliases') {
      for (const a of r.aliases) parts.push([num, encoder.encode(a)]);
      continue;
    }
    const v = r[field];
    if (v !== '' && v !== undefined) parts.push([num, encoder.encode(v)]);
  }
  let size = 0;
  for (const [num, bytes] of parts) size += varintLength((num << 3) | WIRE_LEN) + varintLength(bytes.length) + bytes.length;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const [num, bytes] of parts) {
    pos = writeVarint(out, pos, (num << 3) | WIRE_LEN);
    pos = writeVarint(out, pos, bytes.length);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}

function bad(message: string, offset: number): never {
  throw overlayError('SHOAL_ERR_OVERLAY_BAD_RECORD', `endpoint record: ${message} at byte ${offset}`, { offset });
}

/** Reads a varint of at most 10 bytes; values above 2^53 are refused (none is valid here). */
function readVarint(b: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= b.length) bad('truncated varint', pos);
    const byte = b[pos + i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (value > Number.MAX_SAFE_INTEGER) bad('varint too large', pos);
      return [value, pos + i + 1];
    }
    scale *= 128;
  }
  return bad('varint longer than 10 bytes', pos);
}

export function decodeEndpointRecord(b: Uint8Array): EndpointRecord {
  if (!(b instanceof Uint8Array)) bad('not bytes', 0);
  const r = endpointRecord();
  let pos = 0;
  while (pos < b.length) {
    const start = pos;
    const [tag, afterTag] = readVarint(b, pos);
    pos = afterTag;
    const num = Math.floor(tag / 8);
    const wire = tag % 8;
    if (num === 0) bad('field number 0', start);
    if (num > 0x1fffffff) bad('field number out of range', start);
    const field = BY_NUMBER.get(num);
    if (field !== undefined && wire !== WIRE_LEN) bad(`field ${num} (${field}) with wire type ${wire}`, start);
    switch (wire) {
      case WIRE_VARINT:
        pos = readVarint(b, pos)[1];
        break;
      case WIRE_I64:
        if (pos + 8 > b.length) bad('truncated 64-bit field', start);
        pos += 8;
        break;
      case WIRE_I32:
        if (pos + 4 > b.length) bad('truncated 32-bit field', start);
        pos += 4;
        break;
      case WIRE_LEN: {
        const [len, afterLen] = readVarint(b, pos);
        if (afterLen + len > b.length) bad(`field ${num} longer than the record`, start);
        const bytes = b.subarray(afterLen, afterLen + len);
        pos = afterLen + len;
        if (field === undefined) break;
        let text: string;
        try {
          text = decoder.decode(bytes);
        } catch {
          return bad(`field ${num} (${field}) is not UTF-8`, start);
        }
        if (field === 'aliases') r.aliases.push(text);
        else r[field as ScalarField] = text;
        break;
      }
      default:
        bad(`wire type ${wire}`, start);
    }
  }
  return r;
}
