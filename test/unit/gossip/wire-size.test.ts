// The size arithmetic against the real encoder: every size wire-size.ts computes must be the
// length of what wire-codec.ts writes, for any text (multi-byte UTF-8, surrogate pairs, lone
// surrogates), any counter (every varint length) and fields left at their default.
import fc from 'fast-check';
import t from 'tap';
import { ENVELOPE_OVERHEAD } from '../../../src/gossip/envelope.ts';
import { MAX_COUNTER, type GossipMessage } from '../../../src/gossip/messages.ts';
import { encodeMessage, encodePacket } from '../../../src/gossip/wire-codec.ts';
import {
  framedSize,
  messageSize,
  packetBudget,
  packetHeaderSize,
  packetSize,
  utf8Length,
  varintSize,
} from '../../../src/gossip/wire-size.ts';
import { testSeed } from '../../support/seed.ts';

const seed = testSeed();

/** Any UTF-16 text: ASCII, any code point, and random code units (lone surrogates too). */
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((units) => String.fromCharCode(...units)),
  fc.string({ minLength: 120, maxLength: 400 }), // lengths that need a two-byte varint
);
const u32 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16_383, 16_384, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const counter = fc.oneof(
  fc.constantFrom(0, 127, 128, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 35, 2 ** 49 - 1, 2 ** 49, MAX_COUNTER),
  fc.integer({ min: 0, max: MAX_COUNTER }),
);

const messageArb: fc.Arbitrary<GossipMessage> = fc.oneof(
  fc.record({ kind: fc.constant('ping' as const), seq: u32, target: text }),
  fc.record({ kind: fc.constant('indirect-ping' as const), seq: u32, target: text, targetAddr: text, wantNack: fc.boolean() }),
  fc.record({ kind: fc.constant('ack' as const), seq: u32 }),
  fc.record({ kind: fc.constant('nack' as const), seq: u32 }),
  fc.record({ kind: fc.constant('alive' as const), node: text, addr: text, incarnation: counter, protocolMin: u32, protocolMax: u32 }),
  fc.record({ kind: fc.constant('suspect' as const), node: text, incarnation: counter, from: text }),
  fc.record({ kind: fc.constant('dead' as const), node: text, incarnation: counter, from: text }),
  fc.record({ kind: fc.constant('network' as const), node: text, network: text, ltime: counter, joined: fc.boolean() }),
  fc.record({
    kind: fc.constant('table' as const),
    network: text,
    table: text,
    key: text,
    owner: text,
    ltime: counter,
    deleted: fc.boolean(),
    value: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(0))),
    reapInMs: u32,
  }),
);

t.test('message, framed and packet sizes equal the encoded lengths', async (t) => {
  fc.assert(
    fc.property(text, fc.array(messageArb, { maxLength: 8 }), (from, messages) => {
      for (const m of messages) {
        const encoded = encodeMessage(m).length;
        if (messageSize(m) !== encoded) return false;
        if (framedSize(m) !== 1 + varintSize(encoded) + encoded) return false;
      }
      return encodePacket(from, messages).length === packetSize(from, messages);
    }),
    { seed, numRuns: 1000 },
  );
  t.pass('1,000 random packets');
});

t.test('the packet header is the sender name field, absent when empty', async (t) => {
  t.equal(packetHeaderSize(''), 0);
  t.equal(encodePacket('', []).length, 0);
  for (const from of ['n1', 'é', '\u{1f40b}', '\ud800', '\udc00x', 'x'.repeat(127), 'x'.repeat(128), 'ü'.repeat(200)]) {
    t.equal(packetHeaderSize(from), encodePacket(from, []).length, JSON.stringify(from.slice(0, 8)));
  }
  t.equal(packetBudget(1400, 'node-1'), 1400 - ENVELOPE_OVERHEAD - 8);
});

t.test('UTF-8 lengths and varint sizes', async (t) => {
  fc.assert(
    fc.property(text, (s) => utf8Length(s) === Buffer.byteLength(s, 'utf8')),
    { seed },
  );
  t.equal(utf8Length('\ud83d\udc0b'), 4, 'a surrogate pair is one 4-byte character');
  t.equal(utf8Length('\ud83d'), 3, 'a lone surrogate is written as U+FFFD');
  const cases: Array<[number, number]> = [
    [0, 1],
    [127, 1],
    [128, 2],
    [16_383, 2],
    [16_384, 3],
    [2 ** 32 - 1, 5],
    [2 ** 35 - 1, 5],
    [2 ** 35, 6],
    [MAX_COUNTER, 8],
    [Number.MAX_SAFE_INTEGER, 8],
  ];
  for (const [n, size] of cases) t.equal(varintSize(n), size, `varint ${n}`);
});

t.test('fields at their default cost nothing', async (t) => {
  t.equal(messageSize({ kind: 'ack', seq: 0 }), 2, 'an empty Ack is its oneof tag and a zero length');
  t.equal(encodeMessage({ kind: 'ack', seq: 0 }).length, 2);
  const empty: GossipMessage = {
    kind: 'table',
    network: '',
    table: '',
    key: '',
    owner: '',
    ltime: 0,
    deleted: false,
    value: new Uint8Array(0),
    reapInMs: 0,
  };
  t.equal(messageSize(empty), encodeMessage(empty).length);
  t.equal(messageSize(empty), 2);
});
