/**
 * Target dns: the resolver (src/dns) as its server runs it: decode, the handler chain
 * (query check, records of a small cluster), encode within the transport's budget.
 *
 * An input is a mode byte and bytes:
 *   mode 0: one UDP message, answered in-process (DnsServer.answer);
 *   mode 1: a TCP byte stream (length-prefixed messages: short lengths, lengths beyond the
 *     data, several messages in one chunk), cut at random boundaries into a TcpFrameReader,
 *     each message answered in-process;
 *   mode 2: one UDP message sent to a real server on 127.0.0.11 in this process;
 *   mode 3: a TCP byte stream written in random chunks to that server.
 * The real server (modes 2 and 3, about 1 input in 64) needs root (its sockets are opened
 * through setns into this process's own namespace); without it they run in-process.
 *
 * Invariant: every message gets a well-formed answer (it decodes as a response with the
 * query's id; FORMERR, SERVFAIL, NOTIMP, NXDOMAIN, REFUSED and BADVERS are answers) within
 * the budget (512 bytes or the EDNS size over UDP), or is dropped by design (a response
 * sent to us, a header cut short); no handler throws (the chain's error boundary reports
 * nothing); the TCP reader refuses a cut-off stream only with SHOAL_ERR_DNS_MALFORMED and
 * holds at most one message plus one chunk; and the server keeps answering a valid query.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isShoalError } from '../../../src/common/errors.ts';
import { type Logger, silentLogger } from '../../../src/common/logger.ts';
import { createRng, type Rng } from '../../../src/common/rng.ts';
import { createChain } from '../../../src/dns/handler.ts';
import { checkQuery } from '../../../src/dns/handlers/query-check.ts';
import { recordsHandler } from '../../../src/dns/handlers/records.ts';
import { type Query, RCODE, RR_TYPE } from '../../../src/dns/message.ts';
import { buildRecordIndex, type RecordTask } from '../../../src/dns/records.ts';
import { DnsServer, udpLimit } from '../../../src/dns/server.ts';
import { decodeQuery, decodeResponse, encodeQuery, frameTcp, RCODE_BADVERS, TcpFrameReader } from '../../../src/dns/wire.ts';
import type { FuzzInstance, FuzzTarget } from '../harness.ts';
import { fail, seedOfInput } from '../harness.ts';
import { concat, mutateBytes, mutateDns, randomBytes } from '../mutate.ts';

const MODE_UDP = 0;
const MODE_TCP = 1;
const MODE_REAL_UDP = 2;
const MODE_REAL_TCP = 3;
/** One input in this many goes to the real server. */
const REAL_SHARE = 64;
const REAL_DEADLINE_MS = 3000;

const VIP = '10.0.1.2';
const TASK_ADDRS = ['10.0.1.10', '10.0.1.11', '10.0.1.12', '10.0.1.13', '10.0.1.14', '10.0.1.15', '10.0.1.16', '10.0.1.17'];
const tasks: RecordTask[] = TASK_ADDRS.map((addr, i) => ({
  id: `task${i}`,
  serviceId: 'svc-web',
  slot: i + 1,
  nodeId: 'node1',
  networks: [{ networkId: 'net-front', addresses: [`${addr}/24`], aliases: i === 0 ? ['alias0'] : [] }],
  state: 'running',
  health: '',
  draining: false,
}));

const ALLOWED_RCODES = new Set<number>([
  RCODE.NOERROR,
  RCODE.FORMERR,
  RCODE.SERVFAIL,
  RCODE.NXDOMAIN,
  RCODE.NOTIMP,
  RCODE.REFUSED,
  RCODE_BADVERS,
]);

const NAMES = [
  'web',
  'tasks.web',
  'web.front',
  'task0.front',
  'alias0',
  'example.org',
  '',
  'web.',
  '2.1.0.10.in-addr.arpa',
  'a.b.c.d.e.f.g',
];
const TYPES = [RR_TYPE.A, RR_TYPE.AAAA, RR_TYPE.PTR, RR_TYPE.SRV, RR_TYPE.TXT, RR_TYPE.ANY, RR_TYPE.MX, RR_TYPE.CNAME];

function seedQueries(): Uint8Array[] {
  const out: Uint8Array[] = [];
  let id = 1;
  for (const name of NAMES) {
    for (const type of TYPES.slice(0, name === 'web' || name === 'tasks.web' ? TYPES.length : 2)) {
      const q: Query = { id: id++, opcode: 0, rd: true, cd: false, question: { name, type, class: 1 } };
      out.push(encodeQuery(q));
      if (id % 3 === 0) out.push(encodeQuery({ ...q, id: id++, edns: { udpPayloadSize: id % 2 ? 4096 : 1232, dnssecOk: id % 4 === 0 } }));
    }
  }
  return out;
}

function frames(...msgs: Uint8Array[]): Uint8Array {
  return concat(...msgs.map((m) => frameTcp(m)));
}

type Open = Parameters<DnsServer['answer']>[0];

class DnsInstance implements FuzzInstance {
  readonly checkEvery = 1000;
  private readonly chainErrors: string[] = [];
  private readonly warnings: string[] = [];
  private readonly server: DnsServer;
  private readonly entry: Open;
  private real: { udpPort: number; tcpPort: number; client: dgram.Socket } | undefined;
  private realError = '';
  private replies = new Map<number, (msg: Buffer) => void>();
  readonly counts = { answered: 0, dropped: 0, realUdp: 0, realTcp: 0, tcpStreams: 0, servfail: 0 };

  constructor(seed: number) {
    const index = buildRecordIndex({
      networks: [{ id: 'net-front', name: 'front', internal: false, ingress: false }],
      services: [
        {
          id: 'svc-web',
          name: 'web',
          endpointMode: 'vip',
          virtualIps: [{ networkId: 'net-front', addr: `${VIP}/24` }],
          networks: [{ target: 'net-front', aliases: ['www'] }],
        },
      ],
      tasks,
      containers: [],
    });
    const resolver = createChain([checkQuery, recordsHandler({ index: () => index, rng: createRng(seed) })], {
      onError: (err, req) => this.chainErrors.push(`${JSON.stringify(req.query.question)}: ${(err as Error)?.stack ?? String(err)}`),
    });
    const logger: Logger = {
      ...silentLogger,
      warn: (obj: unknown, msg?: string) => void this.warnings.push(`${msg ?? ''} ${String((obj as { err?: unknown })?.err ?? '')}`),
      child: () => logger,
    } as Logger;
    this.server = new DnsServer({ resolver, logger, generation: () => index, rng: createRng(seed + 1) });
    // what serve() keeps per sandbox, for answering in-process without sockets
    this.entry = { sandbox: { id: 'sb1', nsPath: '', networkIds: ['net-front'] }, cache: undefined } as unknown as Open;
  }

  async start(): Promise<this> {
    if (process.getuid?.() !== 0) {
      this.realError = 'not root: the real server share runs in-process';
      return this;
    }
    try {
      const ports = await this.server.serve({ id: 'sb-real', nsPath: '/proc/self/ns/net', networkIds: ['net-front'] });
      const client = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
      client.on('message', (msg) => {
        const id = msg.length >= 2 ? msg.readUInt16BE(0) : -1;
        const w = this.replies.get(id);
        if (w) {
          this.replies.delete(id);
          w(msg);
        }
      });
      this.real = { ...ports, client };
    } catch (err) {
      this.realError = `no real server: ${(err as Error).message}`;
    }
    return this;
  }

  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
    const real = rng.int(REAL_SHARE) === 0 ? 2 : 0;
    const msgs = corpus.map((c) => c.subarray(1));
    const one = (): Uint8Array => {
      if (rng.int(40) === 0) return randomBytes(rng, rng.int(600));
      const base = msgs[rng.int(msgs.length)]!;
      return rng.int(10) === 0 ? base : mutateDns(rng, base, msgs);
    };
    if (rng.int(4) !== 0) return concat(Uint8Array.of(MODE_UDP + real), one());
    // a TCP stream: several messages, framed right or with lengths that lie
    const parts: Uint8Array[] = [];
    const k = 1 + rng.int(5);
    for (let i = 0; i < k; i++) {
      const m = one();
      switch (rng.int(8)) {
        case 0: // a short length
          parts.push(Uint8Array.of(0, rng.int(Math.min(m.length, 12) + 1)), m);
          break;
        case 1: // a length beyond the data
          parts.push(Uint8Array.of((m.length + 1 + rng.int(300)) >>> 8, (m.length + 1 + rng.int(300)) & 0xff), m);
          break;
        case 2: // an empty frame
          parts.push(Uint8Array.of(0, 0));
          break;
        default:
          parts.push(frameTcp(m.subarray(0, 65535)));
      }
    }
    let stream = concat(...parts);
    if (rng.int(8) === 0) stream = mutateBytes(rng, stream, msgs);
    return concat(Uint8Array.of(MODE_TCP + real), stream);
  }

  /** The answer `out` to message `msg` is well formed, or its absence is by design. */
  private judge(msg: Uint8Array, out: Uint8Array | undefined, transport: 'udp' | 'tcp', limit?: number): void {
    if (this.chainErrors.length) fail(`a handler threw: ${this.chainErrors.splice(0).join('; ')}`);
    if (this.warnings.length) fail(`the server warned: ${this.warnings.splice(0).join('; ')}`);
    if (out === undefined) {
      if (msg.length >= 12 && (msg[2]! & 0x80) === 0) fail('a query with a readable header was dropped without an answer');
      this.counts.dropped++;
      return;
    }
    this.counts.answered++;
    let r: ReturnType<typeof decodeResponse>;
    try {
      r = decodeResponse(out);
    } catch (err) {
      fail(`the answer does not decode: ${(err as Error).message}`);
    }
    if (msg.length >= 2 && r.id !== ((msg[0]! << 8) | msg[1]!)) fail(`the answer has id ${r.id}, the query ${(msg[0]! << 8) | msg[1]!}`);
    if (!ALLOWED_RCODES.has(r.rcode)) fail(`the answer has rcode ${r.rcode}`);
    if (r.rcode === RCODE.SERVFAIL) this.counts.servfail++;
    const max = transport === 'tcp' ? 65535 : (limit ?? 512);
    if (out.length > max) fail(`a ${transport} answer of ${out.length} bytes (budget ${max})`);
  }

  private udpBudget(msg: Uint8Array): number {
    try {
      return udpLimit(decodeQuery(msg));
    } catch {
      return 512;
    }
  }

  async run(input: Uint8Array): Promise<void> {
    if (input.length === 0) return;
    const mode = input[0]! & 3;
    const body = input.subarray(1);
    const real = (mode === MODE_REAL_UDP || mode === MODE_REAL_TCP) && this.real !== undefined;
    if (mode === MODE_UDP || (mode === MODE_REAL_UDP && !real)) {
      this.judge(body, await this.server.answer(this.entry, body, 'udp'), 'udp', this.udpBudget(body));
      return;
    }
    if (mode === MODE_REAL_UDP) {
      await this.realUdp(body);
      return;
    }
    const splits = createRng(seedOfInput(body));
    const messages = this.readTcp(body, splits);
    if (!real) {
      this.counts.tcpStreams++;
      for (const m of messages) this.judge(m, await this.server.answer(this.entry, m, 'tcp'), 'tcp');
      return;
    }
    await this.realTcp(body, splits);
  }

  /** Cuts a stream at random boundaries; checks the reader's bound and its end. */
  private readTcp(stream: Uint8Array, rng: Rng): Uint8Array[] {
    const reader = new TcpFrameReader();
    const out: Uint8Array[] = [];
    for (let at = 0; at < stream.length; ) {
      const n = 1 + rng.int(rng.int(2) === 0 ? 8 : stream.length - at);
      reader.push(stream.subarray(at, at + n));
      at += n;
      for (let m = reader.next(); m; m = reader.next()) out.push(m);
      if (reader.pending > 65537) fail(`the TCP reader holds ${reader.pending} bytes after handing out every whole message`);
    }
    try {
      reader.end();
    } catch (err) {
      if (!isShoalError(err) || err.code !== 'SHOAL_ERR_DNS_MALFORMED') fail(`the TCP reader's end threw ${String(err)}`);
    }
    return out;
  }

  private realUdp(msg: Uint8Array): Promise<void> {
    const real = this.real!;
    this.counts.realUdp++;
    // the same message in-process says whether an answer is due
    return this.server.answer(this.entry, msg, 'udp').then(async (expected) => {
      this.judge(msg, expected, 'udp', this.udpBudget(msg));
      if (!expected) {
        real.client.send(msg, real.udpPort, '127.0.0.11');
        return;
      }
      const id = expected.length >= 2 ? (expected[0]! << 8) | expected[1]! : 0;
      const got = await new Promise<Buffer | undefined>((resolve) => {
        const timer = setTimeout(() => {
          this.replies.delete(id);
          resolve(undefined);
        }, REAL_DEADLINE_MS);
        this.replies.set(id, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        real.client.send(msg, real.udpPort, '127.0.0.11');
      });
      if (!got) fail(`the real server did not answer over UDP within ${REAL_DEADLINE_MS} ms`);
      this.judge(msg, got, 'udp', this.udpBudget(msg));
    });
  }

  private realTcp(stream: Uint8Array, rng: Rng): Promise<void> {
    const real = this.real!;
    this.counts.realTcp++;
    return new Promise<void>((resolve, reject) => {
      const reader = new TcpFrameReader();
      const answers: Uint8Array[] = [];
      const c = net.connect({ host: '127.0.0.11', port: real.tcpPort });
      const timer = setTimeout(() => {
        c.destroy();
        reject(new Error(`the real server did not finish a TCP stream within ${REAL_DEADLINE_MS} ms`));
      }, REAL_DEADLINE_MS);
      c.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        for (let m = reader.next(); m; m = reader.next()) answers.push(m);
      });
      c.on('error', () => undefined);
      c.on('close', () => {
        clearTimeout(timer);
        try {
          for (const a of answers) this.judge(a, a, 'tcp');
          resolve();
        } catch (err) {
          reject(err);
        }
      });
      c.on('connect', () => {
        for (let at = 0; at < stream.length; ) {
          const n = 1 + rng.int(stream.length - at);
          c.write(stream.subarray(at, at + n));
          at += n;
        }
        c.end();
      });
    });
  }

  async check(): Promise<void> {
    const q = encodeQuery({ id: 4242, opcode: 0, rd: true, cd: false, question: { name: 'web', type: RR_TYPE.A, class: 1 } });
    const verify = (out: Uint8Array | undefined, how: string): void => {
      if (!out) fail(`no answer to a valid query (${how})`);
      const r = decodeResponse(out);
      const a = r.answers.find((x) => x.type === RR_TYPE.A);
      if (r.rcode !== RCODE.NOERROR || !a || (a.data as { address?: string }).address !== VIP)
        fail(`a valid query got rcode ${r.rcode} and ${JSON.stringify(r.answers)} (${how})`);
    };
    verify(await this.server.answer(this.entry, q, 'udp'), 'in-process');
    if (!this.real) return;
    const real = this.real;
    const got = await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), REAL_DEADLINE_MS);
      this.replies.set(4242, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      real.client.send(q, real.udpPort, '127.0.0.11');
    });
    verify(got, 'the real server over UDP');
  }

  summary(): string {
    const c = this.counts;
    return (
      `answered ${c.answered} (SERVFAIL ${c.servfail}), dropped by design ${c.dropped}, in-process TCP streams ${c.tcpStreams}, ` +
      `real server: ${c.realUdp} UDP, ${c.realTcp} TCP${this.realError ? ` (${this.realError})` : ''}`
    );
  }

  async close(): Promise<void> {
    this.real?.client.close();
    this.server.close();
  }
}

export const dns: FuzzTarget = {
  name: 'dns',
  description: 'DNS queries over UDP and TCP framing: the resolver in-process, and a real server on 127.0.0.11',
  seeds: () => {
    const qs = seedQueries();
    return [
      ...qs.map((q) => concat(Uint8Array.of(MODE_UDP), q)),
      concat(Uint8Array.of(MODE_TCP), frames(qs[0]!, qs[1]!, qs[2]!)),
      concat(Uint8Array.of(MODE_TCP), frames(qs[3]!)),
      concat(Uint8Array.of(MODE_REAL_UDP), qs[0]!),
      concat(Uint8Array.of(MODE_REAL_TCP), frames(qs[0]!, qs[4]!)),
    ];
  },
  open: (seed) => new DnsInstance(seed).start(),
};
