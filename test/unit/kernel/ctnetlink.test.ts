/**
 * ctnetlink's wire format and matching without a kernel: a dumped entry built by hand
 * (the attribute layout of include/uapi/linux/netfilter/nfnetlink_conntrack.h) parses to
 * its tuples, matches the filters the tool would apply, and turns into a delete request
 * carrying its original tuple, zone and id; a batch's dump request carries the parts
 * every filter of it requires (CTA_FILTER); and how SHOAL_CONNTRACK picks the backend.
 */
import t from 'tap';
import { ipToBytes } from '../../../src/common/ip.ts';
import {
  CT_MSG_DELETE,
  CT_MSG_GET,
  CT_MSG_NEW,
  type CtMatch,
  commonPrefilter,
  conntrackBackend,
  ctDeleteRequest,
  ctDumpRequest,
  ctEntryMatches,
  ctEntryText,
  encodeAttr,
  parseCtEntry,
  splitMessages,
} from '../../../src/kernel/ctnetlink.ts';

const NESTED = 0x8000;
const be16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);
const be32 = (v: number): Buffer => Buffer.from([v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);

function tuple(type: number, src: string, dst: string, proto: number, sport?: number, dport?: number): Buffer {
  const v6 = src.includes(':');
  const ip = encodeAttr(NESTED | 1, Buffer.concat([encodeAttr(v6 ? 3 : 1, ipToBytes(src)), encodeAttr(v6 ? 4 : 2, ipToBytes(dst))]));
  const ports = [
    ...(sport === undefined ? [] : [encodeAttr(2, be16(sport))]),
    ...(dport === undefined ? [] : [encodeAttr(3, be16(dport))]),
  ];
  const p = encodeAttr(NESTED | 2, Buffer.concat([encodeAttr(1, Buffer.from([proto])), ...ports]));
  return encodeAttr(NESTED | type, Buffer.concat([ip, p]));
}

/** A dumped entry: client 10.0.0.9:40000 -> VIP 10.0.0.2:80, NATed to 10.0.1.5:8080, zone 0, id 77. */
const ENTRY = Buffer.concat([
  Buffer.from([2, 0, 0, 0]),
  tuple(1, '10.0.0.9', '10.0.0.2', 6, 40000, 80),
  tuple(2, '10.0.1.5', '10.0.0.9', 6, 8080, 40000),
  encodeAttr(3, be32(0x18e)), // CTA_STATUS: ignored
  encodeAttr(18, be16(0)),
  encodeAttr(12, be32(77)),
]);

t.test('a dumped entry parses to its tuples', async (t) => {
  const e = parseCtEntry(ENTRY);
  t.ok(e);
  t.equal(e!.family, 4);
  t.equal(ctEntryText(e!), 'tcp src=10.0.0.9 dst=10.0.0.2 sport=40000 dport=80 src=10.0.1.5 dst=10.0.0.9 sport=8080 dport=40000');
  const icmp = parseCtEntry(
    Buffer.concat([Buffer.from([10, 0, 0, 0]), tuple(1, 'fd00::9', 'fd00::2', 58), tuple(2, 'fd00::2', 'fd00::9', 58)]),
  );
  t.equal(ctEntryText(icmp!), 'icmpv6 src=fd00::9 dst=fd00::2 src=fd00::2 dst=fd00::9', 'no ports: none printed');
  t.equal(parseCtEntry(Buffer.from([2, 0, 0, 0])), undefined, 'no tuples: not an entry');
  t.equal(parseCtEntry(Buffer.from([7, 0, 0, 0])), undefined, 'not IPv4 or IPv6');
  t.equal(parseCtEntry(ENTRY.subarray(0, 30)), undefined, 'truncated');
});

t.test('matching follows the tool: filters are ANDed', async (t) => {
  const e = parseCtEntry(ENTRY)!;
  const m = (x: Partial<CtMatch> & Pick<CtMatch, 'direction'> & { addr: string; dst?: string }): boolean =>
    ctEntryMatches(e, {
      direction: x.direction,
      address: ipToBytes(x.addr),
      ...(x.protocol === undefined ? {} : { protocol: x.protocol }),
      ...(x.port === undefined ? {} : { port: x.port }),
      ...(x.dst === undefined ? {} : { origDst: ipToBytes(x.dst) }),
    });
  const cases: Array<[string, Parameters<typeof m>[0], boolean]> = [
    ['orig dst', { direction: 'orig-dst', addr: '10.0.0.2' }, true],
    ['orig dst + tcp + 80', { direction: 'orig-dst', addr: '10.0.0.2', protocol: 6, port: 80 }, true],
    ['orig dst, other port', { direction: 'orig-dst', addr: '10.0.0.2', protocol: 6, port: 81 }, false],
    ['orig dst, udp', { direction: 'orig-dst', addr: '10.0.0.2', protocol: 17 }, false],
    ['orig dst is not the backend', { direction: 'orig-dst', addr: '10.0.1.5' }, false],
    ['reply src', { direction: 'reply-src', addr: '10.0.1.5' }, true],
    ['reply src + tcp + 8080', { direction: 'reply-src', addr: '10.0.1.5', protocol: 6, port: 8080 }, true],
    ['reply src, the VIP port', { direction: 'reply-src', addr: '10.0.1.5', protocol: 6, port: 80 }, false],
    ['reply src + orig dst', { direction: 'reply-src', addr: '10.0.1.5', dst: '10.0.0.2' }, true],
    ['reply src + other orig dst', { direction: 'reply-src', addr: '10.0.1.5', dst: '10.0.1.5' }, false],
    ['reply src is not the VIP', { direction: 'reply-src', addr: '10.0.0.2' }, false],
    ['other family', { direction: 'orig-dst', addr: '::ffff:10.0.0.2' }, false],
  ];
  for (const [what, x, want] of cases) t.equal(m(x), want, what);
});

t.test('a delete names the original tuple, zone and id; a dump the family', async (t) => {
  const e = parseCtEntry(ENTRY)!;
  const req = ctDeleteRequest(e);
  t.same([...req.subarray(0, 4)], [2, 0, 0, 0], 'nfgenmsg: AF_INET, version 0, res_id 0');
  const orig = tuple(1, '10.0.0.9', '10.0.0.2', 6, 40000, 80);
  t.same(req.subarray(4, 4 + orig.length), orig, 'CTA_TUPLE_ORIG as dumped, nested');
  t.same(req.subarray(4 + orig.length), Buffer.concat([encodeAttr(18, be16(0)), encodeAttr(12, be32(77))]), 'CTA_ZONE, CTA_ID');
  t.same([...ctDumpRequest(6)], [10, 0, 0, 0]);
  t.equal(CT_MSG_GET, 0x101);
  t.equal(CT_MSG_DELETE, 0x102);
});

t.test("a batch's dump asks the kernel for what every filter requires", async (t) => {
  const vip = ipToBytes('10.0.0.2');
  const m = (x: Partial<CtMatch>): CtMatch => ({ direction: 'reply-src', address: ipToBytes('10.1.0.5'), ...x });
  t.same(commonPrefilter(4, []), {});
  t.same(
    commonPrefilter(4, [m({ origDst: vip, protocol: 6 }), m({ origDst: vip, protocol: 17 })]),
    { origDst: vip },
    'one VIP, two protocols',
  );
  t.same(
    commonPrefilter(4, [m({ origDst: vip, protocol: 6 }), { direction: 'orig-dst', address: vip, protocol: 6 }]),
    { origDst: vip, protocol: 6 },
    "an orig-dst filter's address is its original destination",
  );
  t.same(commonPrefilter(4, [m({ origDst: vip }), m({})]), {}, 'one filter without a destination: none');
  t.same(commonPrefilter(4, [m({ origDst: vip }), m({ origDst: ipToBytes('10.0.0.3') })]), {}, 'two destinations: none');
  const v6 = ipToBytes('fd00::2');
  t.same(commonPrefilter(6, [m({ address: ipToBytes('fd00::5'), origDst: v6, protocol: 6 })]), { protocol: 6 }, 'IPv6: protocol only');
  // nfgenmsg, CTA_TUPLE_ORIG { CTA_TUPLE_IP { V4_DST }, CTA_TUPLE_PROTO { NUM } }, CTA_FILTER { ORIG_FLAGS = IP_DST | PROTO_NUM, REPLY_FLAGS = 0 }
  const le32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v, 0);
    return b;
  };
  const expected = Buffer.concat([
    Buffer.from([2, 0, 0, 0]),
    encodeAttr(
      NESTED | 1,
      Buffer.concat([encodeAttr(NESTED | 1, encodeAttr(2, vip)), encodeAttr(NESTED | 2, encodeAttr(1, Buffer.from([6])))]),
    ),
    encodeAttr(NESTED | 25, Buffer.concat([encodeAttr(1, le32((1 << 1) | (1 << 3))), encodeAttr(2, le32(0))])),
  ]);
  t.same(ctDumpRequest(4, { origDst: vip, protocol: 6 }), expected);
  t.same([...ctDumpRequest(4, {})], [2, 0, 0, 0], 'no prefilter: the family alone');
});

t.test('SHOAL_CONNTRACK=exec and the exec option choose the tool without probing', async (t) => {
  t.equal(conntrackBackend(undefined, { SHOAL_CONNTRACK: 'exec' }), 'exec');
  t.equal(conntrackBackend('exec', { SHOAL_CONNTRACK: 'bogus' }), 'exec', 'the option wins; the variable is not read');
  t.throws(() => conntrackBackend(undefined, { SHOAL_CONNTRACK: 'tool' }), {
    code: 'SHOAL_ERR_INVALID_ARGUMENT',
    message: /SHOAL_CONNTRACK="tool"/,
  });
});

t.test('splitMessages: netlink messages back to back, padded to 4 bytes; a cut one is left out', async (t) => {
  const msg = (type: number, payload: number[]): Buffer => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(16 + payload.length, 0);
    h.writeUInt16LE(type, 4);
    const pad = Buffer.alloc((4 - (payload.length % 4)) % 4);
    return Buffer.concat([h, Buffer.from(payload), pad]);
  };
  const b = Buffer.concat([msg(CT_MSG_NEW, [1, 2, 3, 4, 5]), msg(CT_MSG_NEW, [9, 9, 9, 9])]);
  const got = splitMessages(b);
  t.same(
    got.map((m) => ({ type: m.type, data: [...m.data] })),
    [
      { type: CT_MSG_NEW, data: [1, 2, 3, 4, 5] },
      { type: CT_MSG_NEW, data: [9, 9, 9, 9] },
    ],
  );
  t.equal(splitMessages(b.subarray(0, b.length - 2)).length, 1, 'the cut second message is left out');
  t.same(splitMessages(Buffer.alloc(0)), []);
});
