/**
 * The resolver's wire codec (src/dns/wire.ts): round trips of queries and of responses with
 * every record kind; name compression; the limits of names (255 bytes, labels of 63) and of
 * compression pointers (loops, forward pointers); truncation to a byte budget (TC, OPT kept);
 * the FORMERR cases of a query with their id; raw rdata kept as sent; the TCP framing; a
 * cross-check against the dns-packet package in both directions; and a seeded fuzz run of
 * mutated queries and responses that only ever fails with the codec's own error codes.
 */
import dnsPacket from 'dns-packet';
import t, { type Test } from 'tap';
import { isShoalError, type ShoalError } from '../../../src/common/errors.ts';
import { createRng } from '../../../src/common/rng.ts';
import { DNS_ERRORS } from '../../../src/dns/errors.ts';
import {
  CLASS_IN,
  emptyResponse,
  type Query,
  RCODE,
  type RecordData,
  type ResourceRecord,
  type Response,
  RR_TYPE,
} from '../../../src/dns/message.ts';
import {
  decodeQuery,
  decodeResponse,
  encodeQuery,
  encodeResponse,
  frameTcp,
  RCODE_BADVERS,
  TcpFrameReader,
} from '../../../src/dns/wire.ts';
import { codeOf, testSeed } from '../../support/seed.ts';

function query(name: string, type: number = RR_TYPE.A, extra: Partial<Query> = {}): Query {
  return { id: 0x1234, opcode: 0, rd: true, cd: false, question: { name, type, class: CLASS_IN }, ...extra };
}

function rr(name: string, data: RecordData, type?: number, ttl = 300): ResourceRecord {
  const types: Record<string, number> = { a: 1, aaaa: 28, ptr: 12, cname: 5, srv: 33, soa: 6 };
  return { name, type: type ?? types[data.kind]!, class: CLASS_IN, ttl, data };
}

const a = (name: string, address: string, ttl = 300): ResourceRecord => rr(name, { kind: 'a', address }, undefined, ttl);

function response(q: Query, answers: ResourceRecord[], authority: ResourceRecord[] = [], additional: ResourceRecord[] = []): Response {
  return { ...emptyResponse(q), aa: true, answers, authority, additional };
}

/** The thrown ShoalError (a test failure when there is none or another error). */
function thrown(fn: () => unknown): ShoalError {
  try {
    fn();
  } catch (err) {
    if (isShoalError(err)) return err;
    throw err;
  }
  throw new Error('expected a ShoalError');
}

/** A message from hex (spaces allowed). */
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** A header: id 0xbeef, the flags, then QD, AN, NS, AR counts. */
const header = (flags: number, qd: number, an = 0, ns = 0, ar = 0): string =>
  [0xbeef, flags, qd, an, ns, ar].map((v) => v.toString(16).padStart(4, '0')).join('');

const SOA: RecordData = {
  kind: 'soa',
  mname: 'ns.shoal',
  rname: 'hostmaster.shoal',
  serial: 2026120201,
  refresh: 3600,
  retry: 600,
  expire: 86400,
  minimum: 30,
};

const EVERY_KIND: ResourceRecord[] = [
  a('web.front', '10.0.1.5'),
  rr('web.front', { kind: 'aaaa', address: 'fd00:1::5' }),
  rr('web.front', { kind: 'aaaa', address: '::ffff:c000:201' }),
  rr('5.1.0.10.in-addr.arpa', { kind: 'ptr', name: 'web.1.abc.front' }),
  rr('www.front', { kind: 'cname', name: 'web.front' }),
  rr('_http._tcp.web.front', { kind: 'srv', priority: 10, weight: 5, port: 8080, target: 'task1.web.front' }),
  rr('front', SOA),
  rr('web.front', { kind: 'raw', bytes: hex('0568656c6c6f') }, RR_TYPE.TXT),
  rr('web.front', { kind: 'raw', bytes: hex('c00c0001ff') }, 65280),
  rr('web.front', { kind: 'raw', bytes: new Uint8Array(0) }, 65281),
];

t.test('a query round-trips, names lower-cased, EDNS size and DO kept', async (t) => {
  const q = query('Web.FRONT', RR_TYPE.AAAA, { id: 7, rd: false, cd: true, edns: { udpPayloadSize: 1232, dnssecOk: true } });
  const back = decodeQuery(encodeQuery(q));
  t.same(back, { ...q, question: { ...q.question, name: 'web.front' } });
  t.same(decodeQuery(encodeQuery(query('front.'))).question.name, 'front', 'a trailing dot is the same name');
  t.same(decodeQuery(encodeQuery(query(''))).question.name, '', 'the root');
  const mapped = response(query('x'), [rr('x', { kind: 'aaaa', address: '::ffff:192.0.2.1' })]);
  t.same(
    decodeResponse(encodeResponse(mapped, 512)).answers[0]!.data,
    { kind: 'aaaa', address: '::ffff:c000:201' },
    'addresses come back canonical (RFC 5952)',
  );
  t.same(decodeQuery(encodeQuery(query('x', 1, { opcode: 2 }))).opcode, 2, 'another opcode is decoded (the handler says NOTIMP)');
  const small = decodeQuery(encodeQuery(query('x', 1, { edns: { udpPayloadSize: 100, dnssecOk: false } })));
  t.equal(small.edns?.udpPayloadSize, 512, 'a payload size under 512 reads as 512');
});

t.test('every record kind round-trips through a response, in each section', async (t) => {
  const q = query('web.front');
  for (const record of EVERY_KIND) {
    const r = response(q, [record], [record], [record]);
    const back = decodeResponse(encodeResponse(r, 65535));
    t.same(back.answers, [record], `${record.data.kind} type ${record.type}`);
    t.same(back.authority, [record]);
    t.same(back.additional, [record]);
  }
  const all = response(q, EVERY_KIND, [rr('front', SOA)], [a('task1.web.front', '10.0.1.9')]);
  all.edns = { udpPayloadSize: 4096, dnssecOk: true };
  all.rcode = RCODE.NXDOMAIN;
  all.ra = false;
  t.same(decodeResponse(encodeResponse(all, 65535)), all, 'the whole response, flags and OPT included');
});

t.test('names are compressed: repeated names and suffixes become pointers and decode back', async (t) => {
  const q = query('web.front');
  const records = [
    a('web.front', '10.0.1.5'),
    a('web.front', '10.0.1.6'),
    rr('www.front', { kind: 'cname', name: 'web.front' }),
    rr('x.web.front', { kind: 'ptr', name: 'y.x.web.front' }),
  ];
  const wire = encodeResponse(response(q, records), 512);
  // Question at 12: 03 web 05 front 00 (11 bytes) + type/class; the first answer's name is a pointer to it.
  t.same([...wire.subarray(12 + 15, 12 + 17)], [0xc0, 0x0c], 'the first answer points at the question name');
  let pointers = 0;
  for (let i = 12; i < wire.length - 1; i++) if ((wire[i]! & 0xc0) === 0xc0 && wire[i + 1]! < wire.length) pointers++;
  t.ok(pointers >= 6, `${pointers} pointers`);
  const plain = 12 + 15 + 2 * (11 + 14) + (11 + 10 + 11) + (13 + 10 + 15);
  t.ok(wire.length < plain - 40, `${wire.length} bytes against ${plain} uncompressed`);
  t.same(decodeResponse(wire).answers, records);
  const viaDnsPacket = dnsPacket.decode(Buffer.from(wire));
  t.same(
    viaDnsPacket.answers!.map((x: any) => [x.name, x.data]),
    [
      ['web.front', '10.0.1.5'],
      ['web.front', '10.0.1.6'],
      ['www.front', 'web.front'],
      ['x.web.front', 'y.x.web.front'],
    ],
    'dns-packet follows our pointers',
  );
});

t.test('an SRV target is written whole (RFC 2782) and other names may point into it', async (t) => {
  const q = query('_http._tcp.web.front', RR_TYPE.SRV);
  const srv = rr('_http._tcp.web.front', { kind: 'srv', priority: 0, weight: 0, port: 80, target: 'task9.zone' });
  const wire = encodeResponse(response(q, [srv], [], [a('task9.zone', '10.0.1.9')]), 512);
  const text = Buffer.from(wire).toString('latin1');
  t.ok(text.includes('\x05task9\x04zone\x00'), 'the target in full');
  t.equal(text.indexOf('\x05task9'), text.lastIndexOf('\x05task9'), 'the additional record points at it');
  t.same(decodeResponse(wire).additional, [a('task9.zone', '10.0.1.9')]);
});

t.test('names: 255 bytes pass, 256 and labels of 64 are refused by both sides', async (t) => {
  const l63 = 'a'.repeat(63);
  const n255 = `${l63}.${l63}.${l63}.${'b'.repeat(61)}`; // 3*64 + 62 + root = 255
  t.equal(decodeQuery(encodeQuery(query(n255))).question.name, n255);
  const n256 = `${l63}.${l63}.${l63}.${'b'.repeat(62)}`;
  t.equal(
    codeOf(() => encodeQuery(query(n256))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
  );
  t.equal(
    codeOf(() => encodeQuery(query(`${'c'.repeat(64)}.front`))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
  );
  t.equal(
    codeOf(() => encodeQuery(query('a..front'))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
    'an empty label',
  );
  t.equal(
    codeOf(() => encodeQuery(query('.front'))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
  );

  const label = (n: number, c = '61'): string => n.toString(16).padStart(2, '0') + c.repeat(n);
  const wire256 = hex(header(0x0100, 1) + label(63).repeat(3) + label(62) + '00' + '00010001');
  const e = thrown(() => decodeQuery(wire256));
  t.equal(e.code, 'SHOAL_ERR_DNS_MALFORMED');
  t.match(e.details, { rcode: RCODE.FORMERR, id: 0xbeef, rd: true });
  const wire255 = hex(header(0x0100, 1) + label(63).repeat(3) + label(61) + '00' + '00010001');
  t.equal(decodeQuery(wire255).question.name.length, 253);
  const e64 = thrown(() => decodeQuery(hex(header(0, 1) + label(64) + '00' + '00010001')));
  t.equal(e64.code, 'SHOAL_ERR_DNS_MALFORMED');
  t.match(e64.message, /label of length 64/);
  t.equal(
    codeOf(() => decodeQuery(hex(header(0, 1) + '80' + '00010001'))),
    'SHOAL_ERR_DNS_MALFORMED',
    'the reserved label type',
  );

  // A name that reaches 256 bytes only through a pointer is refused too.
  const viaPointer = hex(
    header(0x8000, 1, 1) + label(63).repeat(3) + '00' + '00010001' + label(63) + 'c00c' + '0001000100000000000401020304',
  );
  t.match(thrown(() => decodeResponse(viaPointer)).message, /longer than 255/);
});

t.test('names: escapes carry dots, backslashes and unprintable bytes both ways', async (t) => {
  const wire = hex(header(0, 1) + '03612e62' + '025c00' + '0120' + '05e941424344' + '00' + '00010001');
  const name = decodeQuery(wire).question.name;
  t.equal(name, 'a\\.b.\\\\\\000.\\032.\\233abcd', 'upper-case ASCII lowered, other bytes escaped');
  const lowered = Buffer.from(wire).subarray(12);
  for (let i = 0; i < lowered.length; i++) if (lowered[i]! >= 0x41 && lowered[i]! <= 0x44) lowered[i]! |= 0x20;
  t.same(Buffer.from(encodeQuery(decodeQuery(wire))).subarray(12), lowered, 'escapes are written back as the bytes they stand for');
  t.equal(decodeQuery(encodeQuery(query(name))).question.name, name);
  t.equal(
    codeOf(() => encodeQuery(query('a\\'))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
    'a lone backslash',
  );
  t.equal(
    codeOf(() => encodeQuery(query('a\\25'))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
    'a short \\DDD',
  );
  t.equal(
    codeOf(() => encodeQuery(query('a\\256'))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
    '\\DDD over 255',
  );
  t.equal(
    codeOf(() => encodeQuery(query('caf\u00e9\u0100'))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
    'a character over 255',
  );
});

t.test('compression pointers: loops, forward pointers and pointers into the header are refused', async (t) => {
  const cases: [string, string][] = [
    ['a pointer to itself', 'c00c'],
    ['a label then a pointer back to it', '0161c00c'],
    ['a forward pointer', 'c00e0161' + '00'],
    ['a pointer into the header', 'c004'],
  ];
  for (const [what, name] of cases) {
    const e = thrown(() => decodeQuery(hex(header(0x0100, 1) + name + '00010001')));
    t.equal(e.code, 'SHOAL_ERR_DNS_MALFORMED', what);
    t.match(e.details, { rcode: RCODE.FORMERR, id: 0xbeef }, what);
  }
  // Two answers pointing at each other's names.
  const mutual = hex(
    header(0x8000, 1, 2) + '0161' + '00' + '00010001' + 'c023' + '0001000100000000000401020304' + 'c013' + '0001000100000000000401020304',
  );
  t.equal(
    codeOf(() => decodeResponse(mutual)),
    'SHOAL_ERR_DNS_MALFORMED',
  );
  // A legitimate chain: each pointer to an earlier name.
  const chain = hex(
    header(0x8000, 1, 2) +
      '0161' +
      '00' +
      '00010001' +
      '0162c00c' +
      '0001000100000000000401020304' +
      '0163c013' +
      '0001000100000000000401020304',
  );
  t.same(
    decodeResponse(chain).answers.map((x) => x.name),
    ['b.a', 'c.b.a'],
  );
  // A chain of pointers to pointers, longer than any name needs.
  let hops = '0161' + '00' + '00010001';
  let target = 12;
  let offset = 12 + 7;
  const records: string[] = [];
  for (let i = 0; i < 140; i++) {
    records.push(`c${target.toString(16).padStart(3, '0')}` + '0001000100000000000401020304');
    target = offset;
    offset += 16;
  }
  hops = header(0x8000, 1, 140) + hops + records.join('');
  t.match(thrown(() => decodeResponse(hex(hops))).message, /more than 128 compression pointers/);
});

t.test('a query: QR set, QDCOUNT 0 or 2, a short header, two OPT records, EDNS version 1', async (t) => {
  const good = encodeQuery(query('web.front'));
  const response = Buffer.from(good);
  response[2]! |= 0x80;
  const qr = thrown(() => decodeQuery(response));
  t.equal(qr.code, 'SHOAL_ERR_DNS_NOT_A_QUERY');
  t.equal(qr.details['id'], 0x1234);
  for (const qd of [0, 2]) {
    const body = qd === 0 ? '' : '0161000001000101620000010001';
    const e = thrown(() => decodeQuery(hex(header(0x0110, qd) + body)));
    t.equal(e.code, 'SHOAL_ERR_DNS_MALFORMED', `QDCOUNT ${qd}`);
    t.same(e.details, { rcode: RCODE.FORMERR, at: 4, id: 0xbeef, opcode: 0, rd: true, cd: true });
  }
  const short = thrown(() => decodeQuery(hex('beef01')));
  t.equal(short.code, 'SHOAL_ERR_DNS_MALFORMED');
  t.notOk('id' in short.details, 'no id without a header');
  const opt = '0000290200000000000000';
  const two = thrown(() => decodeQuery(hex(header(0, 1, 0, 0, 2) + '016100' + '00010001' + opt + opt)));
  t.match(two.message, /second OPT/);
  t.equal(two.details['rcode'], RCODE.FORMERR);
  const v1 = thrown(() => decodeQuery(hex(header(0, 1, 0, 0, 1) + '016100' + '00010001' + '0000291000000100000000')));
  t.equal(v1.code, 'SHOAL_ERR_DNS_BAD_EDNS_VERSION');
  t.match(v1.details, { rcode: RCODE_BADVERS, id: 0xbeef, version: 1 });
  t.equal(
    codeOf(() => decodeQuery(hex(header(0, 1, 0, 0, 1) + '016100' + '00010001' + '0000290200000000000004000a0004'))),
    'SHOAL_ERR_DNS_MALFORMED',
    'an option cut short',
  );
  t.equal(
    codeOf(() => decodeQuery(hex(header(0, 1) + '0161'))),
    'SHOAL_ERR_DNS_MALFORMED',
    'a name cut short',
  );
  t.equal(
    codeOf(() => decodeQuery(hex(header(0, 1) + '01610000'))),
    'SHOAL_ERR_DNS_MALFORMED',
    'a question cut short',
  );
});

t.test('a query with answer and authority records: they are skipped, even with bad pointers', async (t) => {
  const rec = (name: string): string => name + '0001000100000e100004c0000201';
  const wire = hex(header(0x0100, 1, 1, 1, 1) + '016100' + '00010001' + rec('c0ff') + rec('c00c') + '0000291000000080000000');
  t.same(decodeQuery(wire), {
    id: 0xbeef,
    opcode: 0,
    rd: true,
    cd: false,
    question: { name: 'a', type: 1, class: 1 },
    edns: { udpPayloadSize: 4096, dnssecOk: true },
  });
  t.equal(
    codeOf(() => decodeQuery(hex(header(0, 1, 3) + '016100' + '00010001' + rec('c00c')))),
    'SHOAL_ERR_DNS_MALFORMED',
    'counts beyond the data',
  );
});

t.test('truncation: 40 A records fit TCP, are cut to 512 bytes with TC over UDP, and fit a 4096-byte EDNS client', async (t) => {
  const q = query('service-with-a-long-name.frontend-network');
  const answers = Array.from({ length: 40 }, (_, i) => a(q.question.name, `10.0.${i >> 8}.${i & 255}`));
  const r = response(q, answers);

  const tcp = decodeResponse(encodeResponse(r, 65535));
  t.equal(tcp.answers.length, 40);
  t.equal(tcp.tc, false);

  const udpWire = encodeResponse(r, 512);
  t.ok(udpWire.length <= 512, `${udpWire.length} bytes`);
  const udp = decodeResponse(udpWire);
  t.equal(udp.tc, true);
  t.same(udp.answers, answers.slice(0, udp.answers.length), 'a prefix of the answers, whole records');
  t.ok(udp.answers.length > 20 && udp.answers.length < 40, `${udp.answers.length} answers`);
  t.ok(udpWire.length + 16 > 512, 'as many as fit');

  const withEdns = { ...r, edns: { udpPayloadSize: 4096, dnssecOk: false } };
  const big = decodeResponse(encodeResponse(withEdns, 4096));
  t.equal(big.answers.length, 40);
  t.equal(big.tc, false);
  t.same(big.edns, { udpPayloadSize: 4096, dnssecOk: false });

  const cut = encodeResponse(withEdns, 512);
  t.ok(cut.length <= 512);
  const cutBack = decodeResponse(cut);
  t.equal(cutBack.tc, true);
  t.same(cutBack.edns, withEdns.edns, 'the OPT record is kept when records are dropped');
  t.equal(cutBack.answers.length, udp.answers.length - 1, 'room was made for it');
  t.equal(decodeResponse(encodeResponse(r, 100)).answers.length, udp.answers.length, 'a limit under 512 reads as 512');
});

t.test('truncation drops additional records first, then authority, and TC only when answers or authority go', async (t) => {
  const q = query('web.front');
  const answers = Array.from({ length: 10 }, (_, i) => a('web.front', `10.0.0.${i}`));
  const authority = [rr('front', SOA)];
  const additional = Array.from({ length: 30 }, (_, i) => a(`task${i}.web.front`, `10.0.1.${i}`));
  const back = decodeResponse(encodeResponse(response(q, answers, authority, additional), 512));
  t.equal(back.answers.length, 10);
  t.equal(back.authority.length, 1);
  t.ok(back.additional.length < 30 && back.additional.length > 0, `${back.additional.length} additional records kept`);
  t.same(back.additional, additional.slice(0, back.additional.length), 'more names than the small suffix table holds still decode');
  t.equal(back.tc, false, 'only additional data went: no TC (RFC 2181 9)');
  const many = Array.from({ length: 40 }, (_, i) => a('web.front', `10.0.0.${i}`));
  const cut = decodeResponse(encodeResponse(response(q, many, authority, additional), 512));
  t.equal(cut.authority.length, 0);
  t.equal(cut.additional.length, 0);
  t.equal(cut.tc, true);
  const relayed = decodeResponse(encodeResponse({ ...response(q, [a('web.front', '10.0.0.1')]), tc: true }, 512));
  t.equal(relayed.tc, true, 'a TC that was already set stays');
});

t.test('the encoder refuses what it cannot write', async (t) => {
  const q = query('web.front');
  const bad = (r: Response, what: string): void => {
    t.equal(
      codeOf(() => encodeResponse(r, 512)),
      'SHOAL_ERR_DNS_BAD_MESSAGE',
      what,
    );
  };
  bad(response(q, [a('web.front', '10.0.0.256')]), 'a bad IPv4 address');
  bad(response(q, [rr('web.front', { kind: 'aaaa', address: 'fd00::1::2' })]), 'a bad IPv6 address');
  bad(response(q, [rr('web.front', { kind: 'a', address: '10.0.0.1' }, RR_TYPE.AAAA)]), 'a type that does not match the data');
  bad(response(q, [rr('web.front', { kind: 'raw', bytes: new Uint8Array(0) }, RR_TYPE.OPT)]), 'an OPT record among the records');
  bad(response(q, [a('web.front', '10.0.0.1', -1)]), 'a negative TTL');
  bad(response(q, [rr('x', { kind: 'srv', priority: 65536, weight: 0, port: 1, target: 'y' })]), 'an SRV field over 16 bits');
  bad(response(q, [rr('x', { kind: 'raw', bytes: new Uint8Array(65536) }, 99)]), 'rdata over 65535 bytes');
  bad({ ...response(q, []), rcode: RCODE_BADVERS }, 'an extended rcode without EDNS');
  bad({ ...response(q, []), id: 70000 }, 'an id over 16 bits');
  const badvers = decodeResponse(
    encodeResponse({ ...response(q, []), rcode: RCODE_BADVERS, edns: { udpPayloadSize: 1232, dnssecOk: false } }, 512),
  );
  t.equal(badvers.rcode, RCODE_BADVERS, 'an extended rcode travels in the OPT record');
  t.equal(
    codeOf(() => frameTcp(new Uint8Array(65536))),
    'SHOAL_ERR_DNS_BAD_MESSAGE',
  );
});

t.test('a response: unknown rdata kept as sent, names of RFC 1035 types decompressed, FORMERR cases', async (t) => {
  // An answer of type 99 whose rdata looks like a pointer, an MX and an NS whose names are compressed.
  const wire = hex(
    header(0x8180, 1, 3) +
      '03776562 0566726f6e74 00' +
      '00010001' +
      'c00c 0063 0001 00000e10 0002 c00c' +
      'c00c 000f 0001 00000e10 0007 000a 026d78 c00c' +
      'c010 0002 0001 80000000 0005 026e73 c010',
  );
  const back = decodeResponse(wire);
  t.same(back.answers[0]!.data, { kind: 'raw', bytes: hex('c00c') }, 'unknown type: bytes as sent');
  t.same(back.answers[1]!.data, { kind: 'raw', bytes: hex('000a 026d78 03776562 0566726f6e74 00') }, 'MX: the name decompressed');
  t.same(back.answers[2]!.data, { kind: 'raw', bytes: hex('026e73 0566726f6e74 00') }, 'NS: the name decompressed');
  t.equal(back.answers[2]!.ttl, 0, 'a TTL with the top bit set reads as 0');
  const again = decodeResponse(encodeResponse(back, 512));
  t.same(again.answers, back.answers, 'and re-encoded elsewhere they still mean the same');
  const viaDnsPacket = dnsPacket.decode(Buffer.from(encodeResponse(back, 512)));
  t.same(
    viaDnsPacket.answers!.slice(1).map((x: any) => x.data),
    [{ preference: 10, exchange: 'mx.web.front' }, 'ns.front'],
  );

  t.equal(
    codeOf(() => decodeResponse(encodeQuery(query('a')))),
    'SHOAL_ERR_DNS_MALFORMED',
    'QR clear',
  );
  const cases: [string, string][] = [
    ['an A record of 3 bytes', header(0x8000, 0, 1) + '00 0001 0001 00000000 0003 010203'],
    ['an AAAA record of 4 bytes', header(0x8000, 0, 1) + '00 001c 0001 00000000 0004 01020304'],
    ['a CNAME with bytes after its name', header(0x8000, 0, 1) + '00 0005 0001 00000000 0002 00 00'],
    ['an SOA without its counters', header(0x8000, 0, 1) + '00 0006 0001 00000000 0002 00 00'],
    ['an SRV of 6 bytes', header(0x8000, 0, 1) + '00 0021 0001 00000000 0006 000000000000'],
    ['an MX of one byte', header(0x8000, 0, 1) + '00 000f 0001 00000000 0001 00'],
    ['rdata past the end', header(0x8000, 0, 1) + '00 0001 0001 00000000 0004 0102'],
    ['an OPT in the answers', header(0x8000, 0, 1) + '00 0029 1000 00000000 0000'],
    ['two OPT records', header(0x8000, 0, 0, 0, 2) + '00 0029 1000 00000000 0000' + '00 0029 1000 00000000 0000'],
    ['QDCOUNT 2', header(0x8000, 2) + '00 0001 0001 00 0001 0001'],
  ];
  for (const [what, h] of cases) {
    const e = thrown(() => decodeResponse(hex(h)));
    t.equal(e.code, 'SHOAL_ERR_DNS_MALFORMED', what);
    t.equal(e.details['id'], 0xbeef, what);
  }
  const noQuestion = decodeResponse(hex(header(0x8001, 0)));
  t.equal(noQuestion.question, undefined);
  t.equal(noQuestion.rcode, RCODE.FORMERR);
  t.same(decodeResponse(encodeResponse(noQuestion, 512)), noQuestion, 'a response without a question round-trips');
  const chaos = decodeResponse(hex(header(0x8000, 0, 1) + '00 0001 0003 00000000 0002 0102'));
  t.same(chaos.answers[0]!.data, { kind: 'raw', bytes: hex('0102') }, 'an A record of another class is raw');
});

t.test('cross-check with dns-packet: ours encodes, it decodes', async (t) => {
  const q = query('web.front', RR_TYPE.A, { edns: { udpPayloadSize: 1232, dnssecOk: true } });
  const r = response(q, EVERY_KIND.slice(0, 7), [rr('front', SOA)], [a('task1.web.front', '10.0.1.9')]);
  r.edns = { udpPayloadSize: 4096, dnssecOk: true };
  const decoded = dnsPacket.decode(Buffer.from(encodeResponse(r, 65535)));
  t.equal(decoded.id, 0x1234);
  t.equal(decoded.type, 'response');
  t.equal(decoded.flags! & 0x7fff, dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE);
  t.same(decoded.questions, [{ name: 'web.front', type: 'A', class: 'IN' }]);
  t.same(
    decoded.answers!.map((x: any) => [x.type, x.name, x.ttl, x.data]),
    [
      ['A', 'web.front', 300, '10.0.1.5'],
      ['AAAA', 'web.front', 300, 'fd00:1::5'],
      ['AAAA', 'web.front', 300, '::ffff:c000:201'],
      ['PTR', '5.1.0.10.in-addr.arpa', 300, 'web.1.abc.front'],
      ['CNAME', 'www.front', 300, 'web.front'],
      ['SRV', '_http._tcp.web.front', 300, { priority: 10, weight: 5, port: 8080, target: 'task1.web.front' }],
      [
        'SOA',
        'front',
        300,
        { mname: 'ns.shoal', rname: 'hostmaster.shoal', serial: 2026120201, refresh: 3600, retry: 600, expire: 86400, minimum: 30 },
      ],
    ],
  );
  t.same(
    decoded.authorities!.map((x: any) => x.type),
    ['SOA'],
  );
  const opt = decoded.additionals!.find((x: any) => x.type === 'OPT') as any;
  t.match(opt, { name: '.', udpPayloadSize: 4096, flag_do: true, ednsVersion: 0 });
  t.same(
    decoded.additionals!.filter((x: any) => x.type === 'A').map((x: any) => x.data),
    ['10.0.1.9'],
  );

  const ourQuery = dnsPacket.decode(
    Buffer.from(encodeQuery(query('_dns._udp.front', RR_TYPE.SRV, { cd: true, edns: { udpPayloadSize: 1400, dnssecOk: false } }))),
  );
  t.match(ourQuery, { id: 0x1234, type: 'query', questions: [{ name: '_dns._udp.front', type: 'SRV', class: 'IN' }] });
  t.equal(ourQuery.flags! & 0x7fff, dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED);
  t.match(ourQuery.additionals, [{ type: 'OPT', udpPayloadSize: 1400, flag_do: false }]);

  // Truncated: dns-packet reads exactly the records we say are there.
  const many = response(
    query('x'),
    Array.from({ length: 60 }, (_, i) => a('x', `10.1.0.${i}`)),
  );
  const cut = dnsPacket.decode(Buffer.from(encodeResponse(many, 512)));
  t.ok(cut.flag_tc);
  t.ok(cut.answers!.length < 60);
});

t.test('cross-check with dns-packet: it encodes, ours decodes', async (t) => {
  const table: { what: string; packet: any; expect: (t: Test, r: Response) => void }[] = [
    {
      what: 'A and AAAA answers with OPT',
      packet: {
        type: 'response',
        id: 42,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: [{ type: 'A', name: 'api.Example.org', class: 'IN' }],
        answers: [
          { type: 'A', name: 'api.example.org', ttl: 60, data: '192.0.2.10' },
          { type: 'AAAA', name: 'api.example.org', ttl: 60, data: '2001:db8::a' },
        ],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: dnsPacket.DNSSEC_OK }],
      },
      expect: (t, r) => {
        t.match(r, { id: 42, rd: true, ra: true, aa: false, rcode: 0, edns: { udpPayloadSize: 1232, dnssecOk: true } });
        t.equal(r.question!.name, 'api.example.org');
        t.same(
          r.answers.map((x) => x.data),
          [
            { kind: 'a', address: '192.0.2.10' },
            { kind: 'aaaa', address: '2001:db8::a' },
          ],
        );
      },
    },
    {
      what: 'CNAME chain, SRV, PTR, SOA in authority, NXDOMAIN',
      packet: {
        type: 'response',
        id: 7,
        flags: dnsPacket.AUTHORITATIVE_ANSWER | 3,
        questions: [{ type: 'SRV', name: '_ldap._tcp.example.org' }],
        answers: [
          { type: 'CNAME', name: '_ldap._tcp.example.org', ttl: 5, data: 'ldap.example.org' },
          { type: 'SRV', name: 'ldap.example.org', ttl: 5, data: { priority: 1, weight: 2, port: 389, target: 'dc1.example.org' } },
          { type: 'PTR', name: '10.2.0.192.in-addr.arpa', ttl: 5, data: 'dc1.example.org' },
        ],
        authorities: [
          {
            type: 'SOA',
            name: 'example.org',
            ttl: 30,
            data: { mname: 'ns1.example.org', rname: 'root.example.org', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 },
          },
        ],
      },
      expect: (t, r) => {
        t.match(r, { id: 7, aa: true, rcode: RCODE.NXDOMAIN });
        t.same(
          r.answers.map((x) => x.data),
          [
            { kind: 'cname', name: 'ldap.example.org' },
            { kind: 'srv', priority: 1, weight: 2, port: 389, target: 'dc1.example.org' },
            { kind: 'ptr', name: 'dc1.example.org' },
          ],
        );
        t.same(r.authority[0]!.data, {
          ...SOA,
          mname: 'ns1.example.org',
          rname: 'root.example.org',
          serial: 1,
          refresh: 2,
          retry: 3,
          expire: 4,
          minimum: 5,
        });
      },
    },
    {
      what: 'TXT, MX and NS as raw data',
      packet: {
        type: 'response',
        id: 9,
        questions: [{ type: 'MX', name: 'example.org' }],
        answers: [
          { type: 'TXT', name: 'example.org', ttl: 1, data: ['v=spf1 -all'] },
          { type: 'MX', name: 'example.org', ttl: 1, data: { preference: 5, exchange: 'mail.example.org' } },
          { type: 'NS', name: 'example.org', ttl: 1, data: 'ns1.example.org' },
        ],
      },
      expect: (t, r) => {
        const bytes = r.answers.map((x) => (x.data.kind === 'raw' ? Buffer.from(x.data.bytes).toString('latin1') : ''));
        t.equal(bytes[0], '\x0bv=spf1 -all');
        t.equal(bytes[1], '\x00\x05\x04mail\x07example\x03org\x00');
        t.equal(bytes[2], '\x03ns1\x07example\x03org\x00');
      },
    },
  ];
  for (const { what, packet, expect } of table) {
    const r = decodeResponse(dnsPacket.encode(packet));
    t.test(what, async (t) => expect(t, r));
    t.same(decodeResponse(encodeResponse(r, 65535)), r, `${what}: re-encoded by ours`);
  }
  const q = decodeQuery(
    dnsPacket.encode({
      type: 'query',
      id: 65535,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'AAAA', name: 'DB.backend' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, options: [{ code: 10, data: Buffer.alloc(8, 1) }] } as any],
    }),
  );
  t.same(q, {
    id: 65535,
    opcode: 0,
    rd: true,
    cd: false,
    question: { name: 'db.backend', type: 28, class: 1 },
    edns: { udpPayloadSize: 4096, dnssecOk: false },
  });
});

t.test('TCP framing: prefix, chunks of any size, several messages per chunk, empty frames, a cut-off stream', async (t) => {
  const msgs = [encodeQuery(query('a.front')), encodeResponse(response(query('b'), [a('b', '10.0.0.1')]), 65535), encodeQuery(query('c'))];
  const framed = msgs.map(frameTcp);
  t.same([...framed[0]!.subarray(0, 2)], [0, msgs[0]!.length]);
  const stream = Buffer.concat([framed[0]!, hex('0000'), framed[1]!, framed[2]!]);
  for (const size of [1, 2, 3, 7, stream.length]) {
    const reader = new TcpFrameReader();
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += size) {
      reader.push(stream.subarray(i, i + size));
      for (let m = reader.next(); m; m = reader.next()) got.push(m);
    }
    t.same(
      got.map((m) => Buffer.from(m).toString('hex')),
      msgs.map((m) => Buffer.from(m).toString('hex')),
      `chunks of ${size}`,
    );
    t.equal(reader.emptyFrames, 1);
    t.equal(reader.pending, 0);
    reader.end();
  }
  const cut = new TcpFrameReader();
  cut.push(framed[1]!.subarray(0, 20));
  t.equal(cut.next(), undefined);
  t.equal(cut.pending, 20);
  const e = thrown(() => cut.end());
  t.equal(e.code, 'SHOAL_ERR_DNS_MALFORMED');
  t.match(e.details, { pendingBytes: 20, frameBytes: framed[1]!.length });
  const one = new TcpFrameReader();
  one.push(hex('00'));
  t.equal(
    codeOf(() => one.end()),
    'SHOAL_ERR_DNS_MALFORMED',
    'half a length prefix',
  );
  const large = new TcpFrameReader();
  const big = frameTcp(new Uint8Array(60000).fill(7));
  large.push(big);
  large.push(big);
  t.equal(large.next()?.length, 60000);
  t.equal(large.next()?.length, 60000);
  t.equal(large.next(), undefined);
});

t.test('fuzz: 200,000 mutated queries and responses fail only with the codec codes, and what decodes re-encodes', async (t) => {
  const seed = testSeed();
  const rng = createRng(seed);
  const bases: Uint8Array[] = [
    encodeQuery(query('web.front')),
    encodeQuery(query('_http._tcp.web.front', RR_TYPE.SRV, { edns: { udpPayloadSize: 1232, dnssecOk: true } })),
    encodeQuery(query('5.1.0.10.in-addr.arpa', RR_TYPE.PTR, { cd: true })),
    hex(
      header(0x0100, 1, 1, 1, 1) +
        '016100' +
        '00010001' +
        'c00c0001000100000e100004c0000201' +
        'c00c0001000100000e100004c0000201' +
        '0000291000000080000000',
    ),
  ];
  const responses: Uint8Array[] = [
    encodeResponse(response(query('web.front'), EVERY_KIND, [rr('front', SOA)], [a('task1.web.front', '10.0.1.9')]), 65535),
    encodeResponse({ ...response(query('x'), [a('x', '10.0.0.1')]), edns: { udpPayloadSize: 4096, dnssecOk: true } }, 512),
  ];
  const mutate = (base: Uint8Array): Uint8Array => {
    let m = Buffer.from(base);
    const edits = 1 + rng.int(4);
    for (let e = 0; e < edits; e++) {
      const op = rng.int(6);
      if (op === 0 && m.length > 0) {
        const i = rng.int(m.length);
        m[i]! ^= 1 << rng.int(8);
      } else if (op === 1) {
        m = m.subarray(0, rng.int(m.length + 1));
      } else if (op === 2 && m.length > 0) {
        m[rng.int(m.length)] = rng.int(256);
      } else if (op === 3) {
        const at = rng.int(m.length + 1);
        const extra = Buffer.from(Array.from({ length: 1 + rng.int(8) }, () => rng.int(256)));
        m = Buffer.concat([m.subarray(0, at), extra, m.subarray(at)]);
      } else if (op === 4 && m.length > 13) {
        // A pointer somewhere: the structure the codec has to be most careful about.
        const i = 12 + rng.int(m.length - 13);
        m[i] = 0xc0 | rng.int(4);
        m[i + 1] = rng.int(256);
      } else if (m.length >= 12) {
        m[4 + 2 * rng.int(4)] = 0;
        m[5 + 2 * rng.int(4)] = rng.int(4);
      }
    }
    return m;
  };
  const codes = new Map<string, number>();
  const fail = (what: string, err: unknown, input: Uint8Array): void => {
    t.fail(`${what} threw ${String(err)} for ${Buffer.from(input).toString('hex')} (seed ${seed})`);
  };
  let decoded = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < 200_000; i++) {
    const isResponse = i % 4 === 3;
    const input = mutate(isResponse ? responses[i % responses.length]! : bases[i % bases.length]!);
    try {
      if (isResponse) {
        const r = decodeResponse(input);
        const again = decodeResponse(encodeResponse(r, 65535));
        if (again.answers.length !== r.answers.length) fail('re-encoding a response', 'a different answer count', input);
      } else {
        const q = decodeQuery(input);
        const again = decodeQuery(encodeQuery(q));
        if (again.question.name !== q.question.name)
          fail('re-encoding a query', `name ${again.question.name} for ${q.question.name}`, input);
        encodeResponse(emptyResponse(q, RCODE.NXDOMAIN), 512);
      }
      decoded++;
    } catch (err) {
      if (!DNS_ERRORS.is(err)) {
        fail(isResponse ? 'decodeResponse' : 'decodeQuery', err, input);
        break;
      }
      codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
    }
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.comment(`${decoded} decoded, refused: ${JSON.stringify(Object.fromEntries(codes))}, ${ms.toFixed(0)} ms`);
  t.ok(decoded > 10_000, 'many mutations still decode');
  t.ok(codes.get('SHOAL_ERR_DNS_MALFORMED')! > 10_000, 'many are refused as malformed');
  t.equal(codes.get('SHOAL_ERR_DNS_BAD_MESSAGE'), undefined, 'what decodes always re-encodes');
  t.ok(ms < 15_000, `${ms.toFixed(0)} ms for 200,000 (a few seconds on an idle machine)`);
});
