/**
 * Conntrack deletions inside this process, over ctnetlink (NETLINK_NETFILTER, the
 * conntrack subsystem): what the `conntrack` tool does, without starting it. One run of
 * the tool costs 60-130 ms from a loaded agent, nearly all of it process start; the
 * kernel's part of a delete is microseconds.
 *
 * One call, for one filter or a batch of them: a netlink socket is opened inside the
 * namespace (native runInNetns around the `netlink` package's socket constructor, as
 * rtnl.ts does), the family's table is dumped once, each entry is matched here against
 * the filters exactly as the tool matches (a filter's parts are ANDed; an entry goes to
 * the first filter it matches), and each match is deleted by its original tuple, its zone
 * and its id, at most MAX_IN_FLIGHT requests at a time. The socket is closed before the
 * call returns: a socket held open would keep a deleted namespace alive in the kernel.
 *
 * What a dump costs: the kernel walks its one conntrack hash table, every namespace's
 * entries, skipping other namespaces' (ctnetlink_dump_table), and sends this namespace's
 * entries to userspace, where each is parsed. In a sandbox that has served ten thousand
 * short connections (TIME_WAIT entries live 120 s), one unfiltered dump parsed here took
 * 80-300 ms of the agent's single thread, so a batch is one dump, and when every filter
 * of it names the same original destination (a VIP's backends: `--reply-src B -d VIP`),
 * or the same protocol, the kernel is asked to send only those entries (CTA_FILTER,
 * kernel 5.9 and later; IPv4 addresses only, see commonPrefilter): the walk stays, the
 * parse of every other entry goes. A namespace that tracks nothing (its own
 * nf_conntrack_count reads 0) is not dumped at all: no walk. The walk itself happens inside
 * the dump's sendmsg and recvmsg calls, and with a filter that matches little one call
 * walks the whole table, so the dump goes over a second socket on a libuv pool thread
 * (native netlinkDump, dumpOnPool): the event loop goes on meanwhile. The deletes, a few
 * microseconds each in the kernel, stay on the package's socket.
 *
 * Kernel facts this relies on (include/uapi/linux/netfilter/nfnetlink*.h, kernel 6.18):
 * - a message type is (subsystem << 8) | command; the payload starts with struct nfgenmsg
 *   {u8 family; u8 version (0); be16 res_id (0)};
 * - a dump of one family returns every confirmed entry of that family once; a namespace
 *   where nothing is tracked (no ct expression or NAT loaded there) dumps nothing;
 * - a delete naming CTA_ID removes that entry only if its id still matches; an entry that
 *   expired or was replaced since the dump is ENOENT, which here is "already gone";
 * - the package rejects an error ACK with "Request rejected: ENAME".
 *
 * Which backend a KernelConntrack uses (conntrackBackend()): SHOAL_CONNTRACK=exec forces
 * the tool, SHOAL_CONNTRACK=netlink requires ctnetlink; unset, ctnetlink is used when the
 * native addon loads and a NETLINK_NETFILTER socket opens, and the tool otherwise.
 */
import { closeSync, readFileSync } from 'node:fs';
import { createNetlink, type NetlinkSocket } from 'netlink';
import { ShoalError } from '../common/errors.ts';
import { bytesEqual, formatIp } from '../common/ip.ts';
import { DEFAULT_EXEC_TIMEOUT_MS } from './exec.ts';
import { callNative, native, nativeError } from './native.ts';
import { nsPathOrNull } from './netns.ts';

export const CONNTRACK_BACKENDS = ['netlink', 'exec'] as const;
export type ConntrackBackend = (typeof CONNTRACK_BACKENDS)[number];

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_NEW = 0;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const NLM_F_REQUEST = 1;
const NLM_F_DUMP = 0x300;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

const AF_INET = 2;
const AF_INET6 = 10;

const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_STATUS = 3;
const CTA_ID = 12;
/** IPS_SEEN_REPLY (nf_conntrack_common.h): a packet went the reply way. */
const IPS_SEEN_REPLY = 1 << 1;
const CTA_ZONE = 18;
const CTA_FILTER = 25;
const CTA_FILTER_ORIG_FLAGS = 1;
const CTA_FILTER_REPLY_FLAGS = 2;
/** CTA_FILTER flag bits (nfnetlink_conntrack.h): which parts of the given tuple must match. */
const CTA_FILTER_F_IP_DST = 1 << 1;
const CTA_FILTER_F_PROTO_NUM = 1 << 3;
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_IP_V6_SRC = 3;
const CTA_IP_V6_DST = 4;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const CTA_PROTO_DST_PORT = 3;

export const IPPROTO = { tcp: 6, udp: 17 } as const;
const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite' };

/** Delete requests in flight on one socket at most (each ACK is ~36 bytes). */
const MAX_IN_FLIGHT = 64;
const SOCKET_BUFFER = 1024 * 1024;
/** The namespace's own count of tracked entries (/proc/sys/net resolves by the reader's namespace). */
const CONNTRACK_COUNT = '/proc/sys/net/netfilter/nf_conntrack_count';

export const CT_MSG_GET = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
export const CT_MSG_DELETE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
export const CT_MSG_NEW = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;

// ---------------------------------------------------------------------------------------
// Wire format

interface RawAttr {
  type: number;
  /** The payload. */
  value: Buffer;
  /** Header, payload and padding, as received: what a delete sends back. */
  whole: Buffer;
}

function attrs(buf: Buffer): RawAttr[] {
  const out: RawAttr[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    const padded = Math.min((len + 3) & ~3, buf.length - off);
    out.push({
      type: buf.readUInt16LE(off + 2) & NLA_TYPE_MASK,
      value: buf.subarray(off + 4, off + len),
      whole: buf.subarray(off, off + padded),
    });
    off += padded;
  }
  return out;
}

function attrMap(buf: Buffer): Map<number, RawAttr> {
  return new Map(attrs(buf).map((a) => [a.type, a]));
}

/** struct nlattr: u16 length, u16 type, payload, padding to 4 bytes. */
export function encodeAttr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

function nfgenmsg(family: 4 | 6): Buffer {
  return Buffer.from([family === 4 ? AF_INET : AF_INET6, 0, 0, 0]);
}

/** What the kernel is asked to send of a dump: entries whose original tuple has this destination and protocol. */
export interface CtPrefilter {
  origDst?: Buffer;
  protocol?: number;
}

function u32Attr(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value, 0); // NLA_U32 is host order; every header here is written little-endian too
  return encodeAttr(type, b);
}

/**
 * The payload of a dump request for one family's table; with a prefilter, the original
 * tuple's parts it names (CTA_TUPLE_ORIG) and CTA_FILTER's flags saying that they must
 * match.
 */
export function ctDumpRequest(family: 4 | 6, pre: CtPrefilter = {}): Buffer {
  let flags = 0;
  const tuple: Buffer[] = [];
  if (pre.origDst !== undefined) {
    flags |= CTA_FILTER_F_IP_DST;
    tuple.push(encodeAttr(CTA_TUPLE_IP | NLA_F_NESTED, encodeAttr(family === 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, pre.origDst)));
  }
  if (pre.protocol !== undefined) {
    flags |= CTA_FILTER_F_PROTO_NUM;
    tuple.push(encodeAttr(CTA_TUPLE_PROTO | NLA_F_NESTED, encodeAttr(CTA_PROTO_NUM, Buffer.from([pre.protocol]))));
  }
  if (flags === 0) return nfgenmsg(family);
  return Buffer.concat([
    nfgenmsg(family),
    encodeAttr(CTA_TUPLE_ORIG | NLA_F_NESTED, Buffer.concat(tuple)),
    encodeAttr(CTA_FILTER | NLA_F_NESTED, Buffer.concat([u32Attr(CTA_FILTER_ORIG_FLAGS, flags), u32Attr(CTA_FILTER_REPLY_FLAGS, 0)])),
  ]);
}

/** The original destination a match requires, if any. */
function origDstOf(m: CtMatch): Buffer | undefined {
  return m.direction === 'orig-dst' ? m.address : m.origDst;
}

/**
 * What every one of `matches` requires of an entry's original tuple: the kernel may drop
 * the rest. Addresses for IPv4 only: this kernel's IPv6 address filter is inverted (it
 * drops the entries whose address equals the filter's and keeps the others; the kernel
 * conntrack test shows it), so an IPv6 dump is filtered by protocol at most.
 */
export function commonPrefilter(family: 4 | 6, matches: readonly CtMatch[]): CtPrefilter {
  const pre: CtPrefilter = {};
  if (matches.length === 0) return pre;
  const dst = origDstOf(matches[0]!);
  const sameDst = (m: CtMatch): boolean => {
    const d = origDstOf(m);
    return d !== undefined && dst !== undefined && bytesEqual(d, dst);
  };
  if (family === 4 && dst !== undefined && matches.every(sameDst)) pre.origDst = dst;
  const proto = matches[0]!.protocol;
  if (proto !== undefined && matches.every((m) => m.protocol === proto)) pre.protocol = proto;
  return pre;
}

/** One direction of an entry: addresses in network order, ports when the protocol has them. */
export interface CtTuple {
  src: Buffer;
  dst: Buffer;
  protocol: number;
  sport?: number;
  dport?: number;
}

/** One entry of a dump, with the attributes a delete sends back as they came. */
export interface CtEntry {
  family: 4 | 6;
  orig: CtTuple;
  reply: CtTuple;
  /** CTA_TUPLE_ORIG as received (header included). */
  origAttr: Buffer;
  /** CTA_STATUS (IPS_* bits), when the dump carried it. */
  status?: number;
  zoneAttr?: Buffer;
  idAttr?: Buffer;
}

function parseTuple(value: Buffer): CtTuple | undefined {
  const t = attrMap(value);
  const ip = t.get(CTA_TUPLE_IP);
  const proto = t.get(CTA_TUPLE_PROTO);
  if (!ip || !proto) return undefined;
  const a = attrMap(ip.value);
  const src = a.get(CTA_IP_V4_SRC) ?? a.get(CTA_IP_V6_SRC);
  const dst = a.get(CTA_IP_V4_DST) ?? a.get(CTA_IP_V6_DST);
  const p = attrMap(proto.value);
  const num = p.get(CTA_PROTO_NUM);
  if (!src || !dst || !num || num.value.length < 1) return undefined;
  const tuple: CtTuple = { src: src.value, dst: dst.value, protocol: num.value[0]! };
  const sport = p.get(CTA_PROTO_SRC_PORT);
  const dport = p.get(CTA_PROTO_DST_PORT);
  if (sport && sport.value.length >= 2) tuple.sport = sport.value.readUInt16BE(0);
  if (dport && dport.value.length >= 2) tuple.dport = dport.value.readUInt16BE(0);
  return tuple;
}

/** Parses one dumped entry (the payload after struct nlmsghdr); undefined if it is not one. */
export function parseCtEntry(payload: Buffer): CtEntry | undefined {
  if (payload.length < 4) return undefined;
  const family = payload[0] === AF_INET ? 4 : payload[0] === AF_INET6 ? 6 : undefined;
  if (family === undefined) return undefined;
  const top = attrMap(payload.subarray(4));
  const origAttr = top.get(CTA_TUPLE_ORIG);
  const replyAttr = top.get(CTA_TUPLE_REPLY);
  if (!origAttr || !replyAttr) return undefined;
  const orig = parseTuple(origAttr.value);
  const reply = parseTuple(replyAttr.value);
  if (!orig || !reply) return undefined;
  const entry: CtEntry = { family, orig, reply, origAttr: origAttr.whole };
  const status = top.get(CTA_STATUS);
  if (status && status.value.length >= 4) entry.status = status.value.readUInt32BE(0);
  const zone = top.get(CTA_ZONE);
  const id = top.get(CTA_ID);
  if (zone) entry.zoneAttr = zone.whole;
  if (id) entry.idAttr = id.whole;
  return entry;
}

/** The payload of a delete of exactly this entry: original tuple, zone and id. */
export function ctDeleteRequest(e: CtEntry): Buffer {
  // A nest sent back must be marked nested whatever flags it came with.
  const orig = Buffer.from(e.origAttr);
  orig.writeUInt16LE(CTA_TUPLE_ORIG | NLA_F_NESTED, 2);
  return Buffer.concat([nfgenmsg(e.family), orig, ...(e.zoneAttr ? [e.zoneAttr] : []), ...(e.idAttr ? [e.idAttr] : [])]);
}

/** The conntrack tool's words for an entry (`tcp src=A dst=B sport=1 dport=2 src=...`). */
export function ctEntryText(e: CtEntry): string {
  const t = (x: CtTuple): string =>
    `src=${formatIp(x.src)} dst=${formatIp(x.dst)}${x.sport === undefined ? '' : ` sport=${x.sport}`}${x.dport === undefined ? '' : ` dport=${x.dport}`}`;
  return `${PROTO_NAMES[e.orig.protocol] ?? String(e.orig.protocol)} ${t(e.orig)} ${t(e.reply)}`;
}

// ---------------------------------------------------------------------------------------
// Matching

/** A validated delete filter, addresses as bytes. */
export interface CtMatch {
  direction: 'orig-dst' | 'reply-src';
  address: Buffer;
  protocol?: number;
  port?: number;
  /** Reply-source deletes: the original destination must be this too. */
  origDst?: Buffer;
  /** The entry never saw a reply (no IPS_SEEN_REPLY; an entry without a status is left alone). */
  unreplied?: boolean;
}

/**
 * Whether the tool would delete `e` for `m`: orig-dst matches the original tuple's
 * destination (and destination port), reply-src the reply tuple's source (and source
 * port) and, given origDst, the original destination; a protocol narrows both; unreplied
 * keeps the entries that never saw a reply.
 */
export function ctEntryMatches(e: CtEntry, m: CtMatch): boolean {
  if (e.orig.src.length !== m.address.length) return false;
  if (m.protocol !== undefined && e.orig.protocol !== m.protocol) return false;
  const [addr, port] = m.direction === 'orig-dst' ? [e.orig.dst, e.orig.dport] : [e.reply.src, e.reply.sport];
  if (!bytesEqual(addr, m.address)) return false;
  if (m.port !== undefined && port !== m.port) return false;
  if (m.origDst !== undefined && !bytesEqual(e.orig.dst, m.origDst)) return false;
  if (m.unreplied && (e.status === undefined || (e.status & IPS_SEEN_REPLY) !== 0)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// Backend choice

let probed: { ok: true } | { why: string } | undefined;

/** Why ctnetlink cannot be used in this process, or undefined when it can. */
export function ctnetlinkUnavailable(): string | undefined {
  if (!probed) {
    try {
      native();
      const sock = createNetlink(NETLINK_NETFILTER, { recvBufferSize: 65536, sendBufferSize: 65536 });
      sock.close();
      probed = { ok: true };
    } catch (err) {
      probed = { why: (err as Error).message };
    }
  }
  return 'why' in probed ? probed.why : undefined;
}

/**
 * The backend to use: `requested` if given, else SHOAL_CONNTRACK from `env` (exec or
 * netlink), else ctnetlink when it works. A requested ctnetlink that does not work is
 * SHOAL_ERR_NATIVE_UNAVAILABLE; an unknown SHOAL_CONNTRACK is SHOAL_ERR_INVALID_ARGUMENT.
 */
export function conntrackBackend(requested?: ConntrackBackend, env: NodeJS.ProcessEnv = process.env): ConntrackBackend {
  let choice: ConntrackBackend | undefined = requested;
  if (choice === undefined) {
    const v = env['SHOAL_CONNTRACK'] ?? '';
    if (v !== '' && !(CONNTRACK_BACKENDS as readonly string[]).includes(v)) {
      throw new ShoalError(
        'SHOAL_ERR_INVALID_ARGUMENT',
        `SHOAL_CONNTRACK=${JSON.stringify(v)} is not one of ${CONNTRACK_BACKENDS.join(', ')} (or unset)`,
        { details: { SHOAL_CONNTRACK: v } },
      );
    }
    choice = v === '' ? undefined : (v as ConntrackBackend);
  }
  if (choice === 'exec') return 'exec';
  const why = ctnetlinkUnavailable();
  if (why === undefined) return 'netlink';
  if (choice === undefined) return 'exec';
  throw new ShoalError('SHOAL_ERR_NATIVE_UNAVAILABLE', `conntrack over ctnetlink is not available: ${why}`);
}

// ---------------------------------------------------------------------------------------
// One call

export interface CtnetlinkDeleteOptions {
  /** Milliseconds for the dump and for each delete request; default DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number;
  /** The tool's command line for this filter, for messages (`conntrack -D --reply-src ...`). */
  command: string;
}

function errnoOfNetlink(err: unknown): string | undefined {
  const msg = err instanceof Error ? err.message : String(err);
  return /Request rejected: (E[A-Z0-9]+)/.exec(msg)?.[1];
}

/**
 * Inside the namespace: how many entries it tracks (its own nf_conntrack_count; undefined
 * when conntrack is not loaded there) and a ctnetlink socket, unless that count is 0: a
 * namespace with nothing tracked has nothing to delete, and a dump would still walk the
 * whole kernel table to find that out.
 */
function openSocket(netns: string, command: string): { sock: NetlinkSocket; dumpFd: number } | undefined {
  try {
    return callNative(`open ctnetlink socket in ${netns || 'the current namespace'}`, (n) =>
      n.runInNetns(nsPathOrNull(netns), () => {
        let count: number | undefined;
        try {
          count = Number(readFileSync(CONNTRACK_COUNT, 'utf8').trim());
        } catch {
          count = undefined; // not loaded here: the dump says what there is
        }
        if (count === 0) return undefined;
        const sock = createNetlink(NETLINK_NETFILTER, { recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
        try {
          // the dump's own socket, read on a pool thread (dumpOnPool); null: this thread's namespace
          const dumpFd = n.openSocket(null, n.constants.AF_NETLINK, n.constants.SOCK_RAW, NETLINK_NETFILTER, null, 0);
          return { sock, dumpFd };
        } catch (err) {
          sock.close();
          throw err;
        }
      }),
    );
  } catch (err) {
    if (err instanceof ShoalError && err.code === 'SHOAL_ERR_NETNS_NOT_FOUND') {
      // The tool path's words (execInNetns), so callers and users see one message.
      throw new ShoalError('SHOAL_ERR_NETNS_NOT_FOUND', `network namespace ${netns} does not exist`, {
        cause: err,
        details: { netns, command },
        errno: 'ENOENT',
      });
    }
    throw err;
  }
}

/** What a batch did: entries deleted per match (in order) and how many the kernel sent. */
export interface CtBatchResult {
  deleted: number[];
  /** Entries of the dump (after the kernel's prefilter): what was parsed here. */
  dumped: number;
}

/**
 * Deletes, in namespace `netns` ('' = this process's), every entry of `family` that one of
 * `matches` matches, with one dump: each entry goes to the first match it satisfies, and
 * the kernel is sent commonPrefilter(matches). Entries gone meanwhile are not counted.
 * Failures are SHOAL_ERR_CONNTRACK (with the errno), SHOAL_ERR_TIMEOUT,
 * SHOAL_ERR_NETNS_NOT_FOUND; a failed delete fails the batch after the others were tried.
 */
export async function ctnetlinkDeleteMatching(
  netns: string,
  family: 4 | 6,
  matchList: readonly CtMatch[],
  options: CtnetlinkDeleteOptions,
): Promise<CtBatchResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `conntrack timeout ${timeoutMs} ms must be a positive integer`);
  }
  const deletedPer = matchList.map(() => 0);
  if (matchList.length === 0) return { deleted: deletedPer, dumped: 0 };
  const where = `${options.command} in ${netns ? `netns ${netns}` : 'the current namespace'} (ctnetlink)`;
  const fail = (err: unknown, step: string, extra: Record<string, unknown> = {}): ShoalError => {
    if (err instanceof ShoalError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (/Timeout has been reached/.test(message)) {
      return new ShoalError('SHOAL_ERR_TIMEOUT', `${where}: ${step} did not finish within ${timeoutMs} ms`, {
        cause: err,
        details: { netns, command: options.command, timeoutMs, ...extra },
      });
    }
    const errno = errnoOfNetlink(err) ?? (err as { code?: unknown }).code;
    const e = typeof errno === 'string' && /^E[A-Z0-9]+$/.test(errno) ? errno : undefined;
    return new ShoalError('SHOAL_ERR_CONNTRACK', `${where} failed: ${step}: ${e ?? message}`, {
      cause: err,
      details: { netns, command: options.command, ...extra },
      ...(e ? { errno: e } : {}),
    });
  };

  const opened = openSocket(netns, options.command);
  if (!opened) return { deleted: deletedPer, dumped: 0 };
  const { sock, dumpFd } = opened;
  try {
    let msgs: Array<{ type: number; data: Buffer }>;
    try {
      msgs = await dumpOnPool(dumpFd, ctDumpRequest(family, commonPrefilter(family, matchList)), timeoutMs);
    } catch (err) {
      throw fail(err, 'dump');
    }
    const matches: Array<{ entry: CtEntry; which: number }> = [];
    let dumped = 0;
    for (const msg of msgs) {
      if (msg.type !== CT_MSG_NEW) continue;
      dumped++;
      const e = parseCtEntry(msg.data);
      if (!e || e.family !== family) continue;
      const which = matchList.findIndex((m) => ctEntryMatches(e, m));
      if (which >= 0) matches.push({ entry: e, which });
    }
    let deleted = 0;
    let gone = 0;
    const failures: Array<{ entry: string; error: ShoalError }> = [];
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < matches.length) {
        const { entry: e, which } = matches[next++]!;
        try {
          await sock.request(CT_MSG_DELETE, ctDeleteRequest(e), { timeout: timeoutMs });
          deleted++;
          deletedPer[which]!++;
        } catch (err) {
          if (errnoOfNetlink(err) === 'ENOENT') gone++;
          else failures.push({ entry: ctEntryText(e), error: fail(err, `delete ${ctEntryText(e)}`) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_IN_FLIGHT, matches.length) }, lane));
    if (failures.length > 0) {
      const first = failures[0]!.error;
      throw new ShoalError(
        first.code === 'SHOAL_ERR_TIMEOUT' ? 'SHOAL_ERR_TIMEOUT' : 'SHOAL_ERR_CONNTRACK',
        `${first.message}${failures.length > 1 ? ` (and ${failures.length - 1} more deletes failed)` : ''}; ${deleted} deleted`,
        {
          cause: first,
          details: { netns, command: options.command, deleted, gone, failed: failures.map((f) => f.entry) },
          ...(first.errno ? { errno: first.errno } : {}),
        },
      );
    }
    return { deleted: deletedPer, dumped };
  } finally {
    sock.close();
    closeSync(dumpFd);
  }
}

let dumpSeq = 0;

/**
 * A conntrack dump (`payload` after the netlink header) sent and read on a libuv pool
 * thread (native netlinkDump): the kernel walks its whole table, every namespace's entries,
 * inside those calls, and with a filter that matches little one call walks all of it
 * (hundreds of milliseconds after heavy traffic), which on the main thread stopped the
 * event loop. Returns each message's type and payload.
 */
async function dumpOnPool(fd: number, payload: Buffer, timeoutMs: number): Promise<Array<{ type: number; data: Buffer }>> {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(CT_MSG_GET, 4);
  h.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  dumpSeq = (dumpSeq + 1) >>> 0;
  h.writeUInt32LE(dumpSeq, 8);
  const { errno, messages } = await native()
    .netlinkDump(fd, Buffer.concat([h, payload]), timeoutMs)
    .catch((err: unknown) => {
      throw nativeError(err, 'conntrack dump');
    });
  // worded as the netlink package words a refusal, which fail() reads the errno from
  if (errno !== '') throw new Error(`Request rejected: ${errno}`);
  return splitMessages(messages);
}

/** The netlink messages back to back in `b`: each one's type and payload. */
export function splitMessages(b: Buffer): Array<{ type: number; data: Buffer }> {
  const out: Array<{ type: number; data: Buffer }> = [];
  for (let off = 0; off + 16 <= b.length; ) {
    const len = b.readUInt32LE(off);
    if (len < 16 || off + len > b.length) break;
    out.push({ type: b.readUInt16LE(off + 4), data: b.subarray(off + 16, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}
