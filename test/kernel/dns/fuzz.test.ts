/**
 * The resolver's sockets (src/dns/server.ts) under 1,000,000 malformed UDP packets on the
 * real kernel, sent from inside a sandbox namespace to the sandbox's resolver port, plus
 * malformed TCP frames on a handful of connections. The generators draw from one seeded
 * Rng (the seed is printed): random bytes, valid queries with bits flipped, cut at every
 * length or with bytes inserted, header fields at their extremes, compression loops and
 * pointers that go forwards or out of range, labels over 63 bytes and names over 255, broken
 * OPT records, unknown types and classes.
 *
 * Sending is paced by the server's own count of messages it took in: at most WINDOW are in
 * flight, far below what the socket's receive buffer holds, so the kernel drops nothing and
 * every packet is counted exactly once (in queries, malformed or dropped). Every PROBE_EVERY
 * packets a valid query on another socket must get its correct answer within a deadline.
 * Afterwards the process is alive, no query became SERVFAIL or an answer that could not be
 * encoded, every answer that came back decodes as a response, and dig gets the VIP of `web`
 * and the task addresses of `tasks.web` over UDP and TCP.
 */
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { createRng, type Rng } from '../../../src/common/rng.ts';
import { createChain } from '../../../src/dns/handler.ts';
import { checkQuery } from '../../../src/dns/handlers/query-check.ts';
import { recordsHandler } from '../../../src/dns/handlers/records.ts';
import { RCODE, RR_TYPE } from '../../../src/dns/message.ts';
import { buildRecordIndex, type RecordTask } from '../../../src/dns/records.ts';
import { DnsServer, type ServerStats } from '../../../src/dns/server.ts';
import { decodeResponse, encodeQuery, frameTcp, RCODE_BADVERS, TcpFrameReader } from '../../../src/dns/wire.ts';
import { execInNetns } from '../../../src/kernel/exec.ts';
import { native } from '../../../src/kernel/native.ts';
import { netnsPath } from '../../../src/kernel/netns.ts';
import { throwawayNetns } from '../../support/kernel.ts';
import { waitUntil } from '../../support/wait.ts';
import { loggedText, recordingLogger } from '../../support/logger.ts';

const UDP_PACKETS = 1_000_000;
/**
 * Packets sent and not yet settled (answered to the fuzz socket, or dropped by the server):
 * 64 of at most 600 bytes, and their answers, fit each side's 208 KiB buffer several times over.
 */
const WINDOW = 64;
const PROBE_EVERY = 10_000;
const PROBE_DEADLINE_MS = 3_000;
/** No progress for this long means packets were lost (counted, then sending goes on). */
const STALL_MS = 2_000;
const FUZZ_DEADLINE_MS = 170_000;

const VIP = '10.0.1.2';
const TASK_ADDRS = ['10.0.1.10', '10.0.1.11', '10.0.1.12', '10.0.1.13', '10.0.1.14'];
const tasks: RecordTask[] = TASK_ADDRS.map((addr, i) => ({
  id: `task${i}`,
  serviceId: 'svc-web',
  slot: i + 1,
  nodeId: 'node1',
  networks: [{ networkId: 'net-front', addresses: [`${addr}/24`], aliases: [] }],
  state: 'running',
  health: '',
  draining: false,
}));

/** Rcodes the resolver may answer a fuzzed message with; SERVFAIL would mean a handler or the encoder failed. */
const EXPECTED_RCODES = new Set<number>([RCODE.NOERROR, RCODE.FORMERR, RCODE.NXDOMAIN, RCODE.NOTIMP, RCODE.REFUSED, RCODE_BADVERS]);

// ---------------------------------------------------------------- generators

function randomBytes(rng: Rng, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = rng.int(256);
  return b;
}

const NAMES = ['web', 'tasks.web', 'web.front', 'task0.front', 'example.org', '', 'a.b.c.d.e.f.g'];
const TYPES = [RR_TYPE.A, RR_TYPE.AAAA, RR_TYPE.PTR, RR_TYPE.SRV, RR_TYPE.TXT, RR_TYPE.ANY, RR_TYPE.MX];

function validQuery(rng: Rng): Buffer {
  const q = encodeQuery({
    id: rng.int(0x10000),
    opcode: 0,
    rd: rng.int(2) === 0,
    cd: rng.int(4) === 0,
    question: { name: NAMES[rng.int(NAMES.length)]!, type: TYPES[rng.int(TYPES.length)]!, class: 1 },
    ...(rng.int(2) === 0 ? { edns: { udpPayloadSize: 512 + rng.int(4000), dnssecOk: rng.int(2) === 0 } } : {}),
  });
  return Buffer.from(q);
}

function header(rng: Rng, flags: number, qd: number, an: number, ns: number, ar: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(rng.int(0x10000), 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

const TAIL_A_IN = Buffer.from([0, 1, 0, 1]);

/** An OPT record: owner, payload size, extended rcode, version, flags, rdata. */
function opt(owner: Buffer, payload: number, version: number, rdata: Buffer, rdlen = rdata.length): Buffer {
  const f = Buffer.alloc(10);
  f.writeUInt16BE(RR_TYPE.OPT, 0);
  f.writeUInt16BE(payload, 2);
  f[5] = version;
  f.writeUInt16BE(rdlen & 0xffff, 8);
  return Buffer.concat([owner, f, rdata]);
}

const ROOT = Buffer.from([0]);
const WEB = Buffer.from([3, 0x77, 0x65, 0x62, 0]);

const generators: ((rng: Rng, n: number) => Buffer)[] = [
  // random bytes of random length 0..600
  (rng) => randomBytes(rng, rng.int(601)),
  // a valid query with bits flipped
  (rng) => {
    const b = validQuery(rng);
    for (let k = 1 + rng.int(8); k > 0; k--) b[rng.int(b.length)]! ^= 1 << rng.int(8);
    return b;
  },
  // a valid query cut at every length in turn
  (rng, n) => {
    const b = validQuery(rng);
    return b.subarray(0, n % b.length);
  },
  // a valid query with bytes inserted
  (rng) => {
    const b = validQuery(rng);
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), randomBytes(rng, 1 + rng.int(16)), b.subarray(at)]);
  },
  // header fields at their extremes
  (rng) => {
    const b = validQuery(rng);
    switch (rng.int(4)) {
      case 0:
        b.writeUInt16BE([0, 2, 65535][rng.int(3)]!, 4);
        break;
      case 1:
        b.writeUInt16BE(1 + rng.int(65535), 6 + 2 * rng.int(3));
        break;
      case 2:
        b[2]! |= 0x80;
        break;
      default:
        b[2] = (b[2]! & 0x87) | ((1 + rng.int(15)) << 3);
    }
    return b;
  },
  // compression: loops, pointers forwards, into the header, out of range, long chains
  (rng) => {
    const h = header(rng, 0x0100, 1, 0, 0, 0);
    switch (rng.int(5)) {
      case 0:
        return Buffer.concat([h, Buffer.from([0xc0, 12]), TAIL_A_IN]); // to itself
      case 1:
        return Buffer.concat([h, Buffer.from([0xc0, 14, 0xc0, 12]), TAIL_A_IN]); // forwards, then back: a loop
      case 2:
        return Buffer.concat([h, Buffer.from([0xc0 | rng.int(64), rng.int(256)]), TAIL_A_IN]); // anywhere
      case 3:
        return Buffer.concat([h, Buffer.from([0xc0, rng.int(12)]), TAIL_A_IN]); // into the header
      default: {
        // a label, then a pointer back to it, repeated: a loop through labels
        const chain = [3, 0x61, 0x62, 0x63, 0xc0, 12];
        return Buffer.concat([h, Buffer.from(chain), TAIL_A_IN]);
      }
    }
  },
  // labels of 64 and more, names over 255 bytes
  (rng) => {
    const h = header(rng, 0x0100, 1, 0, 0, 0);
    if (rng.int(2) === 0) {
      const len = 64 + rng.int(128);
      return Buffer.concat([h, Buffer.from([len]), randomBytes(rng, rng.int(len + 1)), ROOT, TAIL_A_IN]);
    }
    const labels: Buffer[] = [];
    for (let total = 0; total <= 255 + rng.int(200); total += 64) labels.push(Buffer.from([63]), Buffer.alloc(63, 0x61));
    return Buffer.concat([h, ...labels, ROOT, TAIL_A_IN]);
  },
  // OPT records that are wrong
  (rng) => {
    const h = header(rng, 0x0100, 1, 0, 0, 1);
    const q = Buffer.concat([WEB, TAIL_A_IN]);
    switch (rng.int(6)) {
      case 0:
        h.writeUInt16BE(2, 10);
        return Buffer.concat([h, q, opt(ROOT, 4096, 0, Buffer.alloc(0)), opt(ROOT, 4096, 0, Buffer.alloc(0))]);
      case 1:
        return Buffer.concat([h, q, opt(WEB, 4096, 0, Buffer.alloc(0))]);
      case 2:
        return Buffer.concat([h, q, opt(ROOT, 4096, 1 + rng.int(255), Buffer.alloc(0))]);
      case 3:
        return Buffer.concat([h, q, opt(ROOT, 0xffff - rng.int(3), 0, Buffer.alloc(0))]);
      case 4: {
        // an option whose length runs past its record
        const o = Buffer.from([0, 10, 0xff, rng.int(256), 1, 2, 3]);
        return Buffer.concat([h, q, opt(ROOT, 1232, 0, o)]);
      }
      default:
        // rdlength longer than the message
        return Buffer.concat([h, q, opt(ROOT, 1232, 0, Buffer.alloc(rng.int(4)), 100 + rng.int(1000))]);
    }
  },
  // unknown types and classes (these decode: the chain answers them)
  (rng) => {
    const h = header(rng, (rng.int(2) << 8) | 0, 1, 0, 0, 0);
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(rng.int(0x10000), 0);
    tail.writeUInt16BE(rng.int(0x10000), 2);
    return Buffer.concat([h, rng.int(2) === 0 ? WEB : Buffer.from([7, ...Buffer.from('unknown'), 0]), tail]);
  },
];

function fuzzPacket(rng: Rng, n: number): Buffer {
  return generators[rng.int(generators.length)]!(rng, n);
}

// ---------------------------------------------------------------- helpers

const total = (s: ServerStats): number => s.queries + s.malformed + s.dropped;

async function bindInNetns(ns: string): Promise<dgram.Socket> {
  const n = native();
  const fd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, '127.0.0.1', 0);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind({ fd }, resolve));
  return s;
}

async function dig(ns: string, port: number, args: string[]): Promise<string[]> {
  const r = await execInNetns(ns, 'dig', ['@127.0.0.11', '-p', String(port), '+time=3', '+tries=2', '+short', ...args]);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

// ---------------------------------------------------------------- the test

t.test('1,000,000 malformed packets at the resolver: no crash, and it still answers correctly', async (t) => {
  const ns = throwawayNetns(t, 'dnsfz');
  if (!ns) return;
  await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  const seed = Number(process.env['SHOAL_FUZZ_SEED'] ?? (Math.random() * 2 ** 32) >>> 0);
  t.comment(`seed ${seed} (SHOAL_FUZZ_SEED=${seed} replays it)`);
  const rng = createRng(seed);

  const index = buildRecordIndex({
    networks: [{ id: 'net-front', name: 'front', internal: false, ingress: false }],
    services: [
      {
        id: 'svc-web',
        name: 'web',
        endpointMode: 'vip',
        virtualIps: [{ networkId: 'net-front', addr: `${VIP}/24` }],
        networks: [{ target: 'net-front', aliases: [] }],
      },
    ],
    tasks,
    containers: [],
  });
  const chainErrors: string[] = [];
  const log = recordingLogger();
  const resolver = createChain([checkQuery, recordsHandler({ index: () => index, rng: createRng(seed + 1) })], {
    onError: (err, req) => chainErrors.push(`${req.query.question.name}: ${String(err)}`),
  });
  const server = new DnsServer({ resolver, logger: log.logger });
  t.teardown(() => server.close());
  const ports = await server.serve({ id: 'sb1', nsPath: netnsPath(ns), networkIds: ['net-front'] });

  // ---- UDP: the fuzz socket, and the probe socket for valid queries in between
  const fuzz = await bindInNetns(ns);
  t.teardown(() => fuzz.close());
  await new Promise<void>((resolve) => fuzz.connect(ports.udpPort, '127.0.0.11', resolve));
  const answers = { received: 0, undecodable: 0, notResponse: 0, rcodes: new Map<number, number>() };
  fuzz.on('message', (m) => {
    answers.received++;
    try {
      const r = decodeResponse(m);
      answers.rcodes.set(r.rcode, (answers.rcodes.get(r.rcode) ?? 0) + 1);
    } catch {
      if (m.length >= 3 && (m[2]! & 0x80) === 0) answers.notResponse++;
      else answers.undecodable++;
    }
  });
  const probe = await bindInNetns(ns);
  t.teardown(() => probe.close());
  const waiting = new Map<number, (m: Buffer) => void>();
  probe.on('message', (m) => {
    if (m.length >= 2) waiting.get(m.readUInt16BE(0))?.(m);
  });
  let probeId = 0;
  const probeFailures: string[] = [];
  const ask = async (name: string): Promise<void> => {
    const id = ++probeId & 0xffff;
    const q = encodeQuery({ id, opcode: 0, rd: true, cd: false, question: { name, type: RR_TYPE.A, class: 1 } });
    const got = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), PROBE_DEADLINE_MS);
      waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    probe.send(q, ports.udpPort, '127.0.0.11');
    const m = await got;
    waiting.delete(id);
    if (!m) {
      probeFailures.push(`${name}: no answer within ${PROBE_DEADLINE_MS} ms`);
      return;
    }
    const r = decodeResponse(m);
    const addrs = r.answers.map((a) => (a.data.kind === 'a' ? a.data.address : `?${a.data.kind}`)).sort();
    const want = name === 'web' ? [VIP] : TASK_ADDRS;
    if (r.rcode !== RCODE.NOERROR || !r.aa || addrs.join(',') !== want.join(',')) {
      probeFailures.push(`${name}: rcode ${r.rcode} aa ${r.aa} answers ${addrs.join(',')}`);
    }
  };

  const base = total(server.stats);
  const baseDropped = server.stats.dropped;
  // a packet is settled once its answer is back or the server dropped it (probes aside):
  // pacing by this, not by what the server took in, keeps the answers from overflowing the
  // fuzz socket when the server reads faster than this loop reads its answers
  const settled = (): number => answers.received + server.stats.dropped - baseDropped;
  const start = Date.now();
  let sent = 0;
  let lost = 0;
  let probes = 0;
  let lastProgress = start;
  let lastDone = 0;
  while (sent < UDP_PACKETS) {
    const done = settled() + lost;
    const now = Date.now();
    if (done !== lastDone) {
      lastDone = done;
      lastProgress = now;
    } else if (sent > done && now - lastProgress > STALL_MS) {
      lost += sent - done; // never settled: the kernel dropped them or their answers
      lastProgress = now;
      continue;
    }
    if (now - start > FUZZ_DEADLINE_MS) break;
    for (let free = WINDOW - (sent - done); free > 0 && sent < UDP_PACKETS; free--) {
      fuzz.send(fuzzPacket(rng, sent));
      sent++;
      if (sent % PROBE_EVERY === 0) {
        probes++;
        await ask(probes % 2 === 0 ? 'web' : 'tasks.web');
        break;
      }
    }
    await yieldLoop();
  }
  await waitUntil(() => settled() + lost >= sent, 10_000, 'the last packets to be answered or dropped');
  const seconds = (Date.now() - start) / 1000;
  const udpStats = { ...server.stats };
  t.comment(
    `UDP: ${sent} packets in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s), ${probes} probes, ${lost} lost; ` +
      `server stats ${JSON.stringify(udpStats)}; answers received ${answers.received} ` +
      `(rcodes ${JSON.stringify(Object.fromEntries(answers.rcodes))})`,
  );
  t.equal(sent, UDP_PACKETS, `all ${UDP_PACKETS} packets sent within ${FUZZ_DEADLINE_MS / 1000} s`);
  t.equal(lost, 0, 'the kernel dropped none of them, nor their answers (pacing)');
  t.equal(total(udpStats) - base, sent + probes, 'each packet counted once: queries + malformed + dropped');
  t.ok(udpStats.malformed > sent / 2, 'most were malformed');
  t.ok(udpStats.dropped > 0, 'some were dropped without an answer (responses, short headers)');
  t.ok(udpStats.queries > probes, 'some fuzzed messages were still queries');
  t.same(probeFailures, [], `the ${probes} valid queries in between got their answers`);
  t.equal(answers.received, udpStats.queries + udpStats.malformed - probes, 'every query and every malformed message got one answer');
  t.equal(answers.undecodable, 0, 'every answer decodes as a response');
  t.equal(answers.notResponse, 0);
  t.same(
    [...answers.rcodes.keys()].filter((r) => !EXPECTED_RCODES.has(r)),
    [],
    'no rcode but NOERROR, FORMERR, NXDOMAIN, NOTIMP, REFUSED, BADVERS',
  );

  // ---- TCP: malformed frames on a handful of connections
  const tcpBase = total(server.stats);
  const valid = validQueryFor('web');
  const conversations: { what: string; bytes: Uint8Array[]; wantVip?: boolean }[] = [
    { what: 'a length prefix that promises more than is sent', bytes: [Buffer.from([0x01, 0x2c]), randomBytes(rng, 100)] },
    { what: 'zero-length frames, then a valid query', bytes: [Buffer.alloc(6), frameTcp(valid)], wantVip: true },
    { what: 'a 65,535-byte frame of garbage', bytes: [Buffer.from([0xff, 0xff]), randomBytes(rng, 65535)] },
    { what: 'a valid query, then garbage', bytes: [frameTcp(valid), randomBytes(rng, 3000)], wantVip: true },
    // No answer to the valid query is awaited here: the first message the server drops
    // (a response, a header cut short) closes the connection, and the FORMERRs, which need
    // no lookup, overtake the valid query's answer.
    {
      what: 'a valid query, then 500 fuzzed frames',
      bytes: [frameTcp(valid), ...Array.from({ length: 500 }, (_, i) => frameTcp(fuzzPacket(rng, i)))],
    },
    { what: 'a length prefix cut in half', bytes: [frameTcp(valid), Buffer.from([0x00])], wantVip: true },
    { what: 'a huge prefix, then nothing', bytes: [Buffer.from([0xff, 0xfe])] },
    { what: 'garbage only', bytes: [randomBytes(rng, 20_000)] },
  ];
  const results = await Promise.all(conversations.map((c) => converse(ns, ports.tcpPort, c.bytes)));
  for (const [i, c] of conversations.entries()) {
    const r = results[i]!;
    t.ok(r.closed, `TCP, ${c.what}: the server closes its side once we close ours`);
    t.equal(r.undecodable, 0, `TCP, ${c.what}: every answer decodes as a response`);
    if (c.wantVip) t.equal(r.firstAddress, VIP, `TCP, ${c.what}: the valid query got the VIP`);
  }
  t.comment(`TCP: ${total(server.stats) - tcpBase} messages taken in; answers ${results.map((r) => r.answers).join(',')}`);

  // ---- afterwards: alive, nothing failed inside, and dig gets correct answers
  t.same(chainErrors, [], 'no query became SERVFAIL');
  t.same([...log.warnings, ...log.errors].map(loggedText), [], 'nothing was logged at warn (no answer that could not be encoded)');
  t.same(await dig(ns, ports.udpPort, ['web', 'A']), [VIP], 'dig web: the VIP');
  t.same((await dig(ns, ports.udpPort, ['tasks.web', 'A'])).sort(), TASK_ADDRS, 'dig tasks.web: the task addresses');
  t.same((await dig(ns, ports.tcpPort, ['+tcp', 'tasks.web', 'A'])).sort(), TASK_ADDRS, 'and over TCP');
  t.comment(`final server stats ${JSON.stringify(server.stats)}`);
});

function validQueryFor(name: string): Buffer {
  return Buffer.from(encodeQuery({ id: 0x5151, opcode: 0, rd: true, cd: false, question: { name, type: RR_TYPE.A, class: 1 } }));
}

interface Conversation {
  closed: boolean;
  answers: number;
  undecodable: number;
  firstAddress: string | undefined;
}

/**
 * Writes `bytes` on a TCP connection opened inside the namespace, half-closes it and waits
 * (at most 5 s) for the server to close its side; reads what it answers meanwhile.
 */
async function converse(ns: string, port: number, bytes: Uint8Array[]): Promise<Conversation> {
  const n = native();
  const fd = n.openSocket(netnsPath(ns), n.constants.AF_INET, n.constants.SOCK_STREAM, 0, '127.0.0.1', 0);
  const c = new net.Socket({ fd, readable: true, writable: true });
  const out: Conversation = { closed: false, answers: 0, undecodable: 0, firstAddress: undefined };
  const reader = new TcpFrameReader();
  c.on('error', () => {});
  c.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (let m = reader.next(); m !== undefined; m = reader.next()) {
      out.answers++;
      try {
        const r = decodeResponse(m);
        const a = r.answers[0]?.data;
        if (out.firstAddress === undefined && a?.kind === 'a') out.firstAddress = a.address;
      } catch {
        out.undecodable++;
      }
    }
  });
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 5_000);
    c.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
    c.connect(port, '127.0.0.11');
  });
  for (const b of bytes) c.write(b);
  c.end();
  out.closed = await closed;
  c.destroy();
  return out;
}
