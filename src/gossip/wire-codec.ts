/**
 * The protobuf codec of the gossip wire format: messages (messages.ts) to and from the bytes
 * of proto/gossip.proto, with protobufjs loading the .proto once at run time so the file stays
 * the single source of truth. The only gossip module that imports protobufjs; the state
 * machines never import it (a unit test follows their imports).
 *
 * Decoders never throw: they return undefined for anything malformed (bad protobuf, an
 * empty oneof, unknown enum values, empty, over-long or NUL-carrying names, 64-bit
 * integers above 2^53). A datagram or frame with one bad part is refused whole. (A oneof
 * sent with two members set decodes as the last one, as protobuf specifies.)
 *
 * Datagrams are assembled from individually encoded messages: a `Packet` is field 1 (the
 * sender's name) followed by field 2 repeated, so each broadcast is encoded once, its bytes
 * cached on the (immutable) message object, and a packet is their concatenation. Its length
 * is packetSize() in wire-size.ts, computed without encoding.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  MAX_COUNTER,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
  type AttachmentDigestWire,
  type AttachmentWire,
  type FrameBody,
  type GossipMessage,
  type MemberStatus,
  type Packet,
  type StreamFrame,
  type TableEventMsg,
} from './messages.ts';
import { varintSize } from './wire-size.ts';

export const GOSSIP_PROTO_PATH = fileURLToPath(new URL('../../proto/gossip.proto', import.meta.url));
const PKG = 'shoal.gossip.v1';

interface Types {
  Packet: protobuf.Type;
  Message: protobuf.Type;
  StreamFrame: protobuf.Type;
}
let types: Types | undefined;

function t(): Types {
  if (!types) {
    const root = protobuf.loadSync(GOSSIP_PROTO_PATH);
    root.resolveAll();
    types = {
      Packet: root.lookupType(`${PKG}.Packet`),
      Message: root.lookupType(`${PKG}.Message`),
      StreamFrame: root.lookupType(`${PKG}.StreamFrame`),
    };
  }
  return types;
}

/** Loads and compiles the schema now (it is otherwise loaded on first use). */
export function loadWireSchema(): void {
  t();
}

const STATUS_TO_WIRE: Record<MemberStatus, number> = { alive: 1, suspect: 2, dead: 3, left: 4 };
const STATUS_FROM_WIRE: Array<MemberStatus | undefined> = [undefined, 'alive', 'suspect', 'dead', 'left'];

// ----- encode -----

function messageToProto(m: GossipMessage): Record<string, unknown> {
  switch (m.kind) {
    case 'ping':
      return { ping: { seq: m.seq, target: m.target } };
    case 'indirect-ping':
      return { indirectPing: { seq: m.seq, target: m.target, targetAddr: m.targetAddr, wantNack: m.wantNack } };
    case 'ack':
      return { ack: { seq: m.seq } };
    case 'nack':
      return { nack: { seq: m.seq } };
    case 'alive':
      return { alive: { node: m.node, addr: m.addr, incarnation: m.incarnation, protocolMin: m.protocolMin, protocolMax: m.protocolMax } };
    case 'suspect':
      return { suspect: { node: m.node, incarnation: m.incarnation, from: m.from } };
    case 'dead':
      return { dead: { node: m.node, incarnation: m.incarnation, from: m.from } };
    case 'network':
      return { network: { node: m.node, network: m.network, ltime: m.ltime, joined: m.joined } };
    case 'table':
      return { table: tableToProto(m) };
  }
}

function tableToProto(m: TableEventMsg): Record<string, unknown> {
  return {
    network: m.network,
    table: m.table,
    key: m.key,
    owner: m.owner,
    ltime: m.ltime,
    deleted: m.deleted,
    value: m.value,
    reapInMs: m.reapInMs,
  };
}

const encodedCache = new WeakMap<GossipMessage, Uint8Array>();

/** The protobuf encoding of one Message (cached: messages are immutable). */
export function encodeMessage(m: GossipMessage): Uint8Array {
  let bytes = encodedCache.get(m);
  if (!bytes) {
    bytes = t().Message.encode(messageToProto(m)).finish();
    encodedCache.set(m, bytes);
  }
  return bytes;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Encodes a Packet by concatenating the cached message encodings. */
export function encodePacket(from: string, messages: readonly GossipMessage[]): Uint8Array {
  const fromBytes = Buffer.from(from, 'utf8');
  let size = fromBytes.length === 0 ? 0 : 1 + varintSize(fromBytes.length) + fromBytes.length;
  const parts: Uint8Array[] = [];
  for (const m of messages) {
    const b = encodeMessage(m);
    parts.push(b);
    size += 1 + varintSize(b.length) + b.length;
  }
  const out = new Uint8Array(size);
  let pos = 0;
  if (fromBytes.length > 0) {
    out[pos++] = 0x0a; // field 1, length-delimited
    pos = writeVarint(out, pos, fromBytes.length);
    out.set(fromBytes, pos);
    pos += fromBytes.length;
  }
  for (const b of parts) {
    out[pos++] = 0x12; // field 2, length-delimited
    pos = writeVarint(out, pos, b.length);
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

function attachmentToProto(a: AttachmentWire): Record<string, unknown> {
  return { node: a.node, network: a.network, ltime: a.ltime, joined: a.joined };
}

function bodyToProto(b: FrameBody): Record<string, unknown> {
  switch (b.kind) {
    case 'push-pull':
      return {
        pushPull: {
          join: b.join,
          members: b.members.map((m) => ({ node: m.node, addr: m.addr, incarnation: m.incarnation, status: STATUS_TO_WIRE[m.status] })),
          attachments: b.attachments.map(attachmentToProto),
        },
      };
    case 'table-sync':
      return {
        tableSync: {
          network: b.network,
          owners: b.owners.map((o) => ({ owner: o.owner, count: o.count, hashLo: o.hashLo, hashHi: o.hashHi })),
          attachments: { count: b.attachments.count, hashLo: b.attachments.hashLo, hashHi: b.attachments.hashHi },
        },
      };
    case 'table-sync-reply':
      return {
        tableSyncReply: {
          network: b.network,
          member: b.member,
          differingOwners: [...b.differingOwners],
          versions: b.versions.map((v) => ({ owner: v.owner, table: v.table, key: v.key, ltime: v.ltime, deleted: v.deleted })),
          attachments: b.attachments.map(attachmentToProto),
          wantAttachments: b.wantAttachments,
        },
      };
    case 'table-fetch':
      return {
        tableFetch: {
          network: b.network,
          want: b.want.map((r) => ({ owner: r.owner, table: r.table, key: r.key })),
          push: b.push.map(tableToProto),
          attachments: b.attachments.map(attachmentToProto),
        },
      };
    case 'table-fetch-reply':
      return { tableFetchReply: { network: b.network, entries: b.entries.map(tableToProto) } };
    case 'deliver':
      return { deliver: { messages: b.messages.map(messageToProto) } };
    case 'done':
      return { done: {} };
    case 'refused':
      return { refused: { reason: b.reason } };
  }
}

export function encodeFrame(frame: StreamFrame): Uint8Array {
  return t()
    .StreamFrame.encode({ from: frame.from, ...bodyToProto(frame.body) })
    .finish();
}

// ----- decode -----

/** Thrown only inside this module and caught by the decoders. */
class Malformed {
  constructor(readonly reason: string) {}
}

function bad(reason: string): never {
  throw new Malformed(reason);
}

type Raw = Record<string, unknown>;

function num(v: unknown): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > MAX_COUNTER) bad('integer out of range');
    return v;
  }
  if (v !== null && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number };
    const value = (l.high >>> 0) * 4294967296 + (l.low >>> 0);
    if (value > MAX_COUNTER) bad('integer out of range');
    return value;
  }
  return bad('not an integer');
}

function u32(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) bad('not a uint32');
  return v;
}

function str(v: unknown, max: number, allowEmpty = false): string {
  if (typeof v !== 'string') return bad('not a string');
  if (v.length > max) bad('string too long');
  if (!allowEmpty && v.length === 0) bad('empty string');
  return v;
}

function name(v: unknown): string {
  const s = str(v, MAX_NAME_LENGTH);
  if (s.includes('\0')) bad('NUL in a name');
  return s;
}

function bool(v: unknown): boolean {
  if (typeof v !== 'boolean') bad('not a bool');
  return v;
}

const NO_BYTES = new Uint8Array(0);

function bytes(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v) && v.length === 0) return NO_BYTES; // protobufjs's default for an absent bytes field
  return bad('not bytes');
}

function list(v: unknown): unknown[] {
  if (!Array.isArray(v)) bad('not a list');
  return v;
}

function sub(v: unknown): Raw {
  if (v === null || typeof v !== 'object') bad('missing message');
  return v as Raw;
}

function rawTable(r: Raw): TableEventMsg {
  return {
    kind: 'table',
    network: name(r['network']),
    table: name(r['table']),
    key: str(r['key'], MAX_KEY_LENGTH),
    owner: name(r['owner']),
    ltime: num(r['ltime']),
    deleted: bool(r['deleted']),
    value: bytes(r['value']),
    reapInMs: u32(r['reapInMs']),
  };
}

const MESSAGE_FIELDS = ['ping', 'indirectPing', 'ack', 'nack', 'alive', 'suspect', 'dead', 'network', 'table'] as const;

function rawMessage(raw: Raw): GossipMessage {
  let which: (typeof MESSAGE_FIELDS)[number] | undefined;
  for (const f of MESSAGE_FIELDS) {
    if (raw[f] != null) {
      if (which !== undefined) bad('two message kinds in one Message');
      which = f;
    }
  }
  if (which === undefined) return bad('empty Message');
  const r = sub(raw[which]);
  switch (which) {
    case 'ping':
      return { kind: 'ping', seq: u32(r['seq']), target: str(r['target'], MAX_NAME_LENGTH, true) };
    case 'indirectPing':
      return {
        kind: 'indirect-ping',
        seq: u32(r['seq']),
        target: name(r['target']),
        targetAddr: name(r['targetAddr']),
        wantNack: bool(r['wantNack']),
      };
    case 'ack':
      return { kind: 'ack', seq: u32(r['seq']) };
    case 'nack':
      return { kind: 'nack', seq: u32(r['seq']) };
    case 'alive':
      return {
        kind: 'alive',
        node: name(r['node']),
        addr: name(r['addr']),
        incarnation: num(r['incarnation']),
        protocolMin: u32(r['protocolMin']),
        protocolMax: u32(r['protocolMax']),
      };
    case 'suspect':
      return { kind: 'suspect', node: name(r['node']), incarnation: num(r['incarnation']), from: name(r['from']) };
    case 'dead':
      return { kind: 'dead', node: name(r['node']), incarnation: num(r['incarnation']), from: name(r['from']) };
    case 'network':
      return { kind: 'network', node: name(r['node']), network: name(r['network']), ltime: num(r['ltime']), joined: bool(r['joined']) };
    case 'table':
      return rawTable(r);
  }
}

/** Decodes a Packet plaintext; undefined when malformed. */
export function decodePacket(data: Uint8Array): Packet | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0; // protobufjs reports malformed input by throwing; skip the stack walk
  try {
    const raw = t().Packet.decode(data) as unknown as Raw;
    const from = name(raw['from']);
    const messages = list(raw['messages']).map((m) => rawMessage(sub(m)));
    if (messages.length === 0) bad('no messages');
    return { from, messages };
  } catch {
    return undefined;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function rawAttachmentDigest(v: unknown): AttachmentDigestWire {
  if (v == null) return { count: 0, hashLo: 0, hashHi: 0 }; // absent: an empty view
  const r = sub(v);
  return { count: u32(r['count']), hashLo: u32(r['hashLo']), hashHi: u32(r['hashHi']) };
}

function rawAttachment(r: Raw): AttachmentWire {
  return { node: name(r['node']), network: name(r['network']), ltime: num(r['ltime']), joined: bool(r['joined']) };
}

const FRAME_FIELDS = ['pushPull', 'tableSync', 'tableSyncReply', 'tableFetch', 'tableFetchReply', 'deliver', 'done', 'refused'] as const;

function rawBody(raw: Raw): FrameBody {
  let which: (typeof FRAME_FIELDS)[number] | undefined;
  for (const f of FRAME_FIELDS) {
    if (raw[f] != null) {
      if (which !== undefined) bad('two bodies in one frame');
      which = f;
    }
  }
  if (which === undefined) return bad('empty frame');
  const r = sub(raw[which]);
  switch (which) {
    case 'pushPull':
      return {
        kind: 'push-pull',
        join: bool(r['join']),
        members: list(r['members']).map((x) => {
          const m = sub(x);
          const status = STATUS_FROM_WIRE[u32(m['status'])];
          if (!status) bad('unknown member status');
          return { node: name(m['node']), addr: str(m['addr'], MAX_NAME_LENGTH, true), incarnation: num(m['incarnation']), status };
        }),
        attachments: list(r['attachments']).map((x) => rawAttachment(sub(x))),
      };
    case 'tableSync':
      return {
        kind: 'table-sync',
        network: name(r['network']),
        owners: list(r['owners']).map((x) => {
          const o = sub(x);
          return { owner: name(o['owner']), count: u32(o['count']), hashLo: u32(o['hashLo']), hashHi: u32(o['hashHi']) };
        }),
        attachments: rawAttachmentDigest(r['attachments']),
      };
    case 'tableSyncReply':
      return {
        kind: 'table-sync-reply',
        network: name(r['network']),
        member: bool(r['member']),
        differingOwners: list(r['differingOwners']).map(name),
        versions: list(r['versions']).map((x) => {
          const v = sub(x);
          return {
            owner: name(v['owner']),
            table: name(v['table']),
            key: str(v['key'], MAX_KEY_LENGTH),
            ltime: num(v['ltime']),
            deleted: bool(v['deleted']),
          };
        }),
        attachments: list(r['attachments']).map((x) => rawAttachment(sub(x))),
        wantAttachments: bool(r['wantAttachments']),
      };
    case 'tableFetch':
      return {
        kind: 'table-fetch',
        network: name(r['network']),
        want: list(r['want']).map((x) => {
          const w = sub(x);
          return { owner: name(w['owner']), table: name(w['table']), key: str(w['key'], MAX_KEY_LENGTH) };
        }),
        push: list(r['push']).map((x) => rawTable(sub(x))),
        attachments: list(r['attachments']).map((x) => rawAttachment(sub(x))),
      };
    case 'tableFetchReply':
      return { kind: 'table-fetch-reply', network: name(r['network']), entries: list(r['entries']).map((x) => rawTable(sub(x))) };
    case 'deliver': {
      const messages = list(r['messages']).map((x) => rawMessage(sub(x)));
      if (messages.length === 0) bad('empty deliver');
      return { kind: 'deliver', messages };
    }
    case 'done':
      return { kind: 'done' };
    case 'refused':
      return { kind: 'refused', reason: str(r['reason'], 1024, true) };
  }
}

/** Decodes a StreamFrame plaintext; undefined when malformed. */
export function decodeFrame(data: Uint8Array): StreamFrame | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const raw = t().StreamFrame.decode(data) as unknown as Raw;
    return { from: name(raw['from']), body: rawBody(raw) };
  } catch {
    return undefined;
  } finally {
    Error.stackTraceLimit = limit;
  }
}
