/**
 * What both gossip targets share: the fixed fuzz key (corpus entries are sealed with it, so
 * they authenticate when replayed), valid messages and frames to seed the corpus, and a
 * victim node on a MemoryNetwork in virtual time with a prober that checks it still answers
 * a ping.
 */
import { createHash } from 'node:crypto';
import { FakeClock } from '../../../src/common/clock.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { createRng, type Rng } from '../../../src/common/rng.ts';
import { defaultLocalConfig } from '../../../src/gossip/config.ts';
import { ENVELOPE_KIND_PACKET } from '../../../src/gossip/envelope.ts';
import { createKeyring, type Keyring } from '../../../src/gossip/keyring.ts';
import { createGossipNode, type GossipNode } from '../../../src/gossip/memberlist.ts';
import { MemoryNetwork, type MemoryTransport } from '../../../src/gossip/memory-transport.ts';
import { type GossipMessage, MAX_COUNTER, type StreamFrame } from '../../../src/gossip/messages.ts';
import { decodePacket, encodePacket } from '../../../src/gossip/wire-codec.ts';
import { fail } from '../harness.ts';

/** The key of every sealed corpus entry and of the victim. */
export const FUZZ_KEY = new Uint8Array(createHash('sha256').update('shoal gossip fuzz key').digest());

/**
 * The wall clock of every fuzz keyring: envelopes carry their send time and a receiver
 * refuses those outside its replay window, so the sealed corpus entries stay fresh only
 * for keyrings that read the same fixed time.
 */
export const FUZZ_WALL_CLOCK = { wallNow: (): number => Date.parse('2026-12-03T00:00:00Z') };

/** A keyring with the fuzz key and the fixed clock. */
export function fuzzKeyring(): Keyring {
  return createKeyring([FUZZ_KEY], 0, { clock: FUZZ_WALL_CLOCK });
}

export const VICTIM = 'node-0';
export const VICTIM_ADDR = '198.18.0.1:7946';
export const PEER_ADDR = '198.18.0.2:7946';
const PROBER_ADDR = '198.18.0.9:7946';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

export function sampleMessages(): GossipMessage[] {
  return [
    { kind: 'ping', seq: 1, target: VICTIM },
    { kind: 'ping', seq: 2, target: '' },
    { kind: 'indirect-ping', seq: 2, target: 'node-2', targetAddr: '198.18.0.3:7946', wantNack: true },
    { kind: 'ack', seq: 3 },
    { kind: 'nack', seq: 4 },
    { kind: 'alive', node: 'node-1', addr: PEER_ADDR, incarnation: 1_767_225_700, protocolMin: 1, protocolMax: 1 },
    { kind: 'alive', node: VICTIM, addr: VICTIM_ADDR, incarnation: 7, protocolMin: 1, protocolMax: 1 },
    { kind: 'suspect', node: VICTIM, incarnation: 1, from: 'node-1' },
    { kind: 'suspect', node: 'node-1', incarnation: 1_767_225_700, from: 'node-2' },
    { kind: 'dead', node: 'node-1', incarnation: 1_767_225_700, from: 'node-1' },
    { kind: 'dead', node: VICTIM, incarnation: 1, from: 'node-1' },
    { kind: 'network', node: 'node-1', network: 'net', ltime: 1_767_225_600_123, joined: true },
    { kind: 'network', node: 'node-1', network: 'net', ltime: 9, joined: false },
    {
      kind: 'table',
      network: 'net',
      table: 'ep',
      key: 'k',
      owner: 'node-1',
      ltime: 1_767_225_600_124,
      deleted: false,
      value: utf8('10.0.0.1'),
      reapInMs: 0,
    },
    {
      kind: 'table',
      network: 'net',
      table: 'ep',
      key: 'k',
      owner: VICTIM,
      ltime: 5,
      deleted: true,
      value: new Uint8Array(0),
      reapInMs: 1000,
    },
  ];
}

export function samplePackets(): Uint8Array[] {
  const msgs = sampleMessages();
  return [...msgs.map((m) => encodePacket('node-1', [m])), encodePacket('node-2', msgs)];
}

export function sampleFrames(): StreamFrame[] {
  const msgs = sampleMessages();
  return [
    {
      from: 'node-1',
      body: {
        kind: 'push-pull',
        join: true,
        members: [
          { node: 'node-1', addr: PEER_ADDR, incarnation: 9, status: 'alive' },
          { node: 'node-3', addr: '198.18.0.4:7946', incarnation: 9, status: 'dead' },
          { node: VICTIM, addr: VICTIM_ADDR, incarnation: 0, status: 'suspect' },
        ],
        attachments: [{ node: 'node-1', network: 'net', ltime: 3, joined: true }],
      },
    },
    {
      from: 'node-1',
      body: {
        kind: 'table-sync',
        network: 'net',
        owners: [{ owner: 'node-1', count: 2, hashLo: 1, hashHi: 2 }],
        attachments: { count: 1, hashLo: 3, hashHi: 4 },
      },
    },
    {
      from: 'node-1',
      body: {
        kind: 'table-fetch',
        network: 'net',
        want: [{ owner: VICTIM, table: 'ep', key: 'mine' }],
        push: [msgs[13] as never],
        attachments: [{ node: 'node-1', network: 'net', ltime: 3, joined: true }],
      },
    },
    { from: 'node-1', body: { kind: 'deliver', messages: msgs } },
    {
      from: 'node-1',
      body: {
        kind: 'table-sync-reply',
        network: 'net',
        member: true,
        differingOwners: ['node-1'],
        versions: [{ owner: 'node-1', table: 'ep', key: 'k', ltime: 1, deleted: false }],
        attachments: [],
        wantAttachments: true,
      },
    },
    { from: 'node-1', body: { kind: 'table-fetch-reply', network: 'net', entries: [msgs[13] as never] } },
    { from: 'node-1', body: { kind: 'done' } },
    { from: 'node-1', body: { kind: 'refused', reason: 'busy' } },
  ];
}

/** A victim node, a peer it knows, and a prober that pings it. */
export class Victim {
  readonly clock = new FakeClock();
  readonly net: MemoryNetwork;
  readonly transport: MemoryTransport;
  readonly node: GossipNode;
  readonly sealer: Keyring = fuzzKeyring();
  private readonly prober: MemoryTransport;
  private readonly acks = new Set<number>();
  private seq = 1_000_000;
  /** Inputs since the node was made: it is made anew now and then so its tables stay small. */
  inputs = 0;

  private constructor(seed: number) {
    const rng = createRng(seed);
    this.net = new MemoryNetwork({ clock: this.clock, rng: rng.fork() });
    this.transport = this.net.createTransport(VICTIM_ADDR);
    this.node = createGossipNode({
      name: VICTIM,
      config: defaultLocalConfig(),
      transport: this.transport,
      keyring: fuzzKeyring(),
      clock: this.clock,
      rng: rng.fork(),
      logger: silentLogger,
    });
    this.prober = this.net.createTransport(PROBER_ADDR);
  }

  static async create(seed: number): Promise<Victim> {
    const v = new Victim(seed);
    await v.node.start();
    const opener = fuzzKeyring();
    await v.prober.start({
      packet: (_from, data) => {
        const plain = opener.open(ENVELOPE_KIND_PACKET, data);
        const p = plain && decodePacket(plain);
        for (const m of p ? p.messages : []) if (m.kind === 'ack') v.acks.add(m.seq);
      },
      request: (_from, _frame, respond) => respond(undefined),
    });
    v.node.joinNetwork('net');
    v.node.tables.set('net', 'ep', 'mine', utf8('10.0.0.9'));
    v.clock.advance(100);
    v.check();
    return v;
  }

  /** Lets the node's timers run (probes, suspicion, gossip, anti-entropy). */
  tick(ms: number): void {
    this.clock.advance(ms);
  }

  /** The node is running, caught nothing in its last-resort guard, and answers a ping. */
  check(): void {
    if (this.node.status !== 'running') fail(`the node is ${this.node.status}, not running`);
    const st = this.node.stats();
    if (st.internalErrors !== 0) fail(`the node's guard caught ${st.internalErrors} exceptions (input handling threw)`);
    if (st.listenerErrors !== 0) fail(`${st.listenerErrors} listener errors`);
    const self = this.node.member(VICTIM);
    if (self?.state !== 'alive') fail(`the node sees itself as ${self?.state ?? 'missing'}, not alive`);
    const seq = this.seq++;
    this.prober.sendPacket(
      VICTIM_ADDR,
      this.sealer.seal(ENVELOPE_KIND_PACKET, encodePacket('prober', [{ kind: 'ping', seq, target: VICTIM }])),
    );
    for (let i = 0; i < 20 && !this.acks.has(seq); i++) this.clock.advance(5);
    if (!this.acks.delete(seq)) fail('the node did not answer a ping');
  }

  async destroy(): Promise<void> {
    await this.node.destroy();
    await this.prober.close();
  }
}

const NAMES = [VICTIM, 'node-1', 'node-2', 'prober', 'x'.repeat(255), 'ü', 'node-1 ', '.'];
const ADDRS = [
  VICTIM_ADDR,
  PEER_ADDR,
  '198.18.0.3:7946',
  '[2001:db8::1]:7946',
  '198.18.0.4:0',
  '198.18.0.5:65535',
  'not-an-address',
  '[::1]',
];
const COUNTERS = [0, 1, 2, 7, 1_767_225_700, MAX_COUNTER - 1, MAX_COUNTER];
const TABLES = ['ep', 'svc', 't'.repeat(255)];

/**
 * Well-formed messages with hostile values, as an authenticated peer could send them: the
 * victim's own name and address, counters at the edge of the accepted range, owners
 * claiming the victim's entries, long names and keys. They reach the state machines (not
 * just the decoder) far more often than byte mutations do.
 */
export function hostileMessages(rng: Rng): GossipMessage[] {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const out: GossipMessage[] = [];
  const n = 1 + rng.int(6);
  for (let i = 0; i < n; i++) {
    switch (rng.int(9)) {
      case 0:
        out.push({ kind: 'ping', seq: rng.int(2 ** 32), target: pick(NAMES) });
        break;
      case 1:
        out.push({
          kind: 'indirect-ping',
          seq: rng.int(2 ** 32),
          target: pick(NAMES),
          targetAddr: pick(ADDRS),
          wantNack: rng.int(2) === 0,
        });
        break;
      case 2:
        out.push({ kind: rng.int(2) ? 'ack' : 'nack', seq: rng.int(2 ** 32) });
        break;
      case 3:
        out.push({
          kind: 'alive',
          node: pick(NAMES),
          addr: pick(ADDRS),
          incarnation: pick(COUNTERS),
          protocolMin: rng.int(3),
          protocolMax: rng.int(3),
        });
        break;
      case 4:
        out.push({ kind: 'suspect', node: pick(NAMES), incarnation: pick(COUNTERS), from: pick(NAMES) });
        break;
      case 5:
        out.push({ kind: 'dead', node: pick(NAMES), incarnation: pick(COUNTERS), from: pick(NAMES) });
        break;
      case 6:
        out.push({
          kind: 'network',
          node: pick(NAMES),
          network: pick(['net', 'other', 'n'.repeat(255)]),
          ltime: pick(COUNTERS),
          joined: rng.int(2) === 0,
        });
        break;
      default:
        out.push({
          kind: 'table',
          network: pick(['net', 'other']),
          table: pick(TABLES),
          key: pick(['k', 'mine', 'k'.repeat(1024), '']),
          owner: pick(NAMES),
          ltime: pick(COUNTERS),
          deleted: rng.int(2) === 0,
          value: utf8(pick(['10.0.0.1', '', 'v'.repeat(1000)])),
          reapInMs: pick([0, 1, 1000, 2 ** 31, MAX_COUNTER]),
        });
    }
  }
  return out;
}
