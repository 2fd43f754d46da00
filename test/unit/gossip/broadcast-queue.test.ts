import t from 'tap';
import { BroadcastQueue } from '../../../src/gossip/broadcast-queue.ts';

const q = (max = 100): BroadcastQueue<string> => new BroadcastQueue<string>({ maxLength: max, sizeOf: (m) => m.length });

t.test('fewest transmissions first, most recently queued first among equals', async (t) => {
  const b = q();
  b.enqueue('a', 'aaaa');
  b.enqueue('b', 'bbbb');
  b.enqueue('c', 'cccc');
  t.same(b.take(8, 3), ['cccc', 'bbbb'], 'newest first, as many as fit');
  t.same(b.take(8, 3), ['aaaa', 'cccc'], 'the unsent one before those sent once');
  t.same(b.take(100, 3).sort(), ['aaaa', 'bbbb', 'cccc']);
  t.same(b.take(100, 3).sort(), ['aaaa', 'bbbb'], 'c reached its limit of 3');
  t.same(b.take(100, 3), []);
  t.equal(b.length, 0);
});

t.test('a message with the same key replaces the queued one', async (t) => {
  const b = q();
  const done: boolean[] = [];
  b.enqueue('node-1', 'alive@1', (d) => done.push(d));
  b.take(100, 5);
  b.enqueue('node-1', 'dead@1', (d) => done.push(d));
  t.same(done, [false], 'the replaced message is retired undelivered');
  t.same(b.take(100, 5), ['dead@1'], 'the replacement starts from zero transmissions');
  t.equal(b.length, 1);
  b.take(100, 2);
  t.same(done, [false, true], 'delivered after its limit');
});

t.test('a message larger than the whole budget is returned alone when allowed', async (t) => {
  const b = q();
  b.enqueue('big', 'x'.repeat(50));
  b.enqueue('s', 'ss');
  t.same(b.take(10, 3), ['ss'], 'not allowed: skipped');
  t.same(b.take(10, 3, true).sort(), ['ss', 'x'.repeat(50)].sort());
});

t.test('the queue is bounded: the most transmitted go first', async (t) => {
  const b = q(3);
  b.enqueue('a', 'a');
  b.take(100, 10); // a sent once
  b.enqueue('b', 'b');
  b.enqueue('c', 'c');
  b.enqueue('d', 'd');
  t.equal(b.length, 3);
  t.equal(b.dropped, 1);
  t.notOk(b.has('a'), 'the most transmitted message was dropped');
});

t.test('heavy replacement does not leak', async (t) => {
  const b = q(1000);
  for (let i = 0; i < 100_000; i++) b.enqueue(`k${i % 10}`, `v${i}`);
  t.equal(b.length, 10);
  t.equal(b.take(1000, 5).length, 10);
});
