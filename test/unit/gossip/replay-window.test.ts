/**
 * The replay window on its own (replay-window.ts) and inside the keyring: every envelope
 * that authenticated is taken once, within the age window, whatever the order; the same
 * envelope again, an old one and one sent before the receiver started are refused and
 * counted; restarts of either side do not stop fresh traffic.
 */
import t from 'tap';
import { ENVELOPE_KIND_PACKET, ENVELOPE_KIND_STREAM, ENVELOPE_SENT_AT_OFFSET } from '../../../src/gossip/envelope.ts';
import { Keyring, generateGossipKey } from '../../../src/gossip/keyring.ts';
import { ReplayWindow, type ReplayWindowConfig } from '../../../src/gossip/replay-window.ts';
import { createRng } from '../../../src/common/rng.ts';
import { testSeed } from '../../support/seed.ts';

const T0 = 1_800_000_000_000;
const config: ReplayWindowConfig = { maxAgeMs: 60_000, counterWindow: 128, maxSenders: 8 };

t.test('each counter once; any order within the window; below it refused', async (t) => {
  const w = new ReplayWindow(config, T0);
  t.equal(w.check('a', 10, T0, T0), 'fresh');
  t.equal(w.check('a', 10, T0, T0), 'replayed', 'the same counter again');
  t.equal(w.check('a', 5, T0, T0), 'fresh', 'an older counter not seen yet (reordered)');
  t.equal(w.check('a', 5, T0, T0), 'replayed');
  t.equal(w.check('b', 10, T0, T0), 'fresh', 'another sender has its own window');
  t.equal(w.check('a', 1000, T0, T0), 'fresh', 'a jump ahead');
  t.equal(w.check('a', 10, T0, T0), 'replayed', 'now below the window: refused');
  t.equal(w.check('a', 1000 - 127, T0, T0), 'fresh', 'the bottom of the window');
  t.equal(w.check('a', 1000 - 128, T0, T0), 'replayed', 'one below it');
  t.equal(w.check('a', 999, T0, T0), 'fresh');
  t.equal(w.check('a', 1000, T0, T0), 'replayed');
  // the words the jump skipped were cleared, not left with the old bits
  t.equal(w.check('a', 1000 - 32 * 2 + 10, T0, T0), 'fresh');
});

t.test('send time: within maxAgeMs either way, never before the receiver started', async (t) => {
  const w = new ReplayWindow(config, T0);
  const now = T0 + 120_000;
  t.equal(w.check('a', 1, now - 60_001, now), 'stale', 'too old');
  t.equal(w.check('a', 2, now + 60_001, now), 'stale', 'too far ahead');
  t.equal(w.check('a', 3, now - 60_000, now), 'fresh', 'at the edge');
  t.equal(w.check('a', 4, now + 60_000, now), 'fresh', 'at the other edge');
  const fresh = new ReplayWindow(config, T0);
  t.equal(fresh.check('x', 1, T0 - 1, T0 + 5), 'stale', 'sent before this receiver started');
  t.equal(fresh.check('x', 2, Number.NaN, T0), 'stale', 'a time that is not a number');
});

t.test('memory: idle senders are forgotten, the count stays bounded', async (t) => {
  const w = new ReplayWindow(config, T0);
  for (let i = 0; i < 6; i++) t.equal(w.check(`s${i}`, 0, T0, T0), 'fresh');
  t.equal(w.stats().senders, 6);
  const later = T0 + 61_000;
  t.equal(w.check('new', 0, later, later), 'fresh');
  t.equal(w.stats().senders, 1, 'senders idle for longer than maxAgeMs are dropped');
  t.equal(w.stats().evicted, 0);
  for (let i = 0; i < 20; i++) w.check(`busy${i}`, 0, later, later);
  t.ok(w.stats().senders <= config.maxSenders, `at most maxSenders held (${w.stats().senders})`);
  t.ok(w.stats().evicted > 0, 'the overflow is counted');
});

t.test('random orders: every counter of a shuffled, duplicated stream is taken exactly once', async (t) => {
  const seed = testSeed();
  t.comment(`seed ${seed}`);
  const rng = createRng(seed);
  const w = new ReplayWindow({ maxAgeMs: 60_000, counterWindow: 4096, maxSenders: 16 }, T0);
  const sent: number[] = [];
  for (let c = 0; c < 3000; c++) sent.push(c, c);
  // shuffle within a reordering distance well inside the window
  for (let i = sent.length - 1; i > 0; i--) {
    const j = Math.max(0, i - rng.int(200));
    [sent[i], sent[j]] = [sent[j]!, sent[i]!];
  }
  const taken = new Map<number, number>();
  for (const c of sent) if (w.check('p', c, T0, T0) === 'fresh') taken.set(c, (taken.get(c) ?? 0) + 1);
  t.equal(taken.size, 3000, 'every counter taken');
  t.ok(
    [...taken.values()].every((n) => n === 1),
    'none twice',
  );
});

t.test('in the keyring: a replay and an old envelope are refused and counted; restarts keep working', async (t) => {
  const key = generateGossipKey();
  let now = T0;
  const clock = { wallNow: () => now };
  const a = new Keyring([key], 0, { clock });
  const b = new Keyring([key], 0, { clock });
  const msg = new TextEncoder().encode('ping');
  const d1 = a.seal(ENVELOPE_KIND_PACKET, msg);
  const f1 = a.seal(ENVELOPE_KIND_STREAM, msg);
  t.ok(b.open(ENVELOPE_KIND_PACKET, d1), 'first copy opens');
  t.equal(b.open(ENVELOPE_KIND_PACKET, d1), undefined, 'second copy refused');
  t.ok(b.open(ENVELOPE_KIND_STREAM, f1), 'a stream frame of the same sender opens (shared counter, own bit)');
  t.equal(b.open(ENVELOPE_KIND_STREAM, f1), undefined);
  t.equal(b.stats.rejectedReplay, 2);
  t.equal(b.stats.opened, 2);
  // an envelope captured now and sent later than the age window
  const captured = a.seal(ENVELOPE_KIND_PACKET, msg);
  now += 121_000;
  t.equal(b.open(ENVELOPE_KIND_PACKET, captured), undefined, 'an old envelope is refused');
  t.equal(b.stats.rejectedStale, 1);
  t.ok(b.open(ENVELOPE_KIND_PACKET, a.seal(ENVELOPE_KIND_PACKET, msg)), 'fresh traffic still opens');
  // the send time is authenticated: moving it forward breaks the tag
  const moved = Uint8Array.from(captured);
  Buffer.from(moved.buffer).writeUIntBE(now, ENVELOPE_SENT_AT_OFFSET, 6);
  t.equal(b.open(ENVELOPE_KIND_PACKET, moved), undefined);
  t.equal(b.stats.rejectedAuth, 1, 'a rewritten send time does not authenticate');
  // the sender restarts: a new keyring, a new nonce prefix, counters from 0 again
  const a2 = new Keyring([key], 0, { clock });
  t.ok(b.open(ENVELOPE_KIND_PACKET, a2.seal(ENVELOPE_KIND_PACKET, msg)), "a restarted sender's first envelope opens");
  t.ok(b.open(ENVELOPE_KIND_PACKET, a2.seal(ENVELOPE_KIND_PACKET, msg)), 'and its second');
  // the receiver restarts: what was sent before is refused, what is sent after opens
  const before = a2.seal(ENVELOPE_KIND_PACKET, msg);
  now += 1;
  const b2 = new Keyring([key], 0, { clock });
  t.equal(b2.open(ENVELOPE_KIND_PACKET, before), undefined, 'sent before the receiver started: refused (it cannot know)');
  t.equal(b2.stats.rejectedStale, 1);
  t.ok(b2.open(ENVELOPE_KIND_PACKET, a2.seal(ENVELOPE_KIND_PACKET, msg)), 'sent after: opens');
});
