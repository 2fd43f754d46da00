import t from 'tap';
import { MinHeap } from '../../../src/common/min-heap.ts';
import { createRng } from '../../../src/common/rng.ts';
import { testSeed } from '../../support/seed.ts';

const seed = testSeed();

interface Item {
  readonly p: number;
  readonly id: number;
}

function drain<T>(h: MinHeap<T>): T[] {
  const out: T[] = [];
  for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x);
  return out;
}

t.test('pops in comparator order', async (t) => {
  const h = new MinHeap<number>((a, b) => a - b);
  t.equal(h.size, 0);
  t.equal(h.peek(), undefined, 'peek on empty');
  t.equal(h.pop(), undefined, 'pop on empty');
  for (const n of [5, 3, 9, 1, 7, 1, 8, 2, 6, 4, 0]) h.push(n);
  t.equal(h.size, 11);
  t.equal(h.peek(), 0);
  t.equal(h.size, 11, 'peek leaves the item');
  t.same(drain(h), [0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(h.size, 0);

  const max = new MinHeap<number>((a, b) => b - a);
  for (const n of [2, 9, 4]) max.push(n);
  t.same(drain(max), [9, 4, 2], 'the comparator decides, even reversed');
});

t.test('ties come out in insertion order', async (t) => {
  const h = MinHeap.byPriority<Item>((x) => x.p);
  const pushed: Item[] = [];
  let id = 0;
  // Interleave three priorities so ties are pushed around other items and reordered by sifts.
  for (let round = 0; round < 20; round++) {
    for (const p of [2, 0, 1, 0, 2]) {
      const item = { p, id: id++ };
      pushed.push(item);
      h.push(item);
    }
  }
  const out = drain(h);
  t.same(
    out.map((x) => x.id),
    [...pushed].sort((a, b) => a.p - b.p || a.id - b.id).map((x) => x.id),
  );

  const inf = MinHeap.byPriority<Item>((x) => x.p);
  for (const item of [
    { p: Infinity, id: 0 },
    { p: 1, id: 1 },
    { p: Infinity, id: 2 },
    { p: -Infinity, id: 3 },
    { p: Infinity, id: 4 },
  ])
    inf.push(item);
  t.same(
    drain(inf).map((x) => x.id),
    [3, 1, 0, 2, 4],
    'Infinity ties with Infinity',
  );
});

t.test('iterates every item, and clear empties it', async (t) => {
  const h = new MinHeap<number>((a, b) => a - b);
  for (const n of [4, 1, 3, 2]) h.push(n);
  t.same([...h].sort(), [1, 2, 3, 4]);
  h.clear();
  t.equal(h.size, 0);
  t.equal(h.pop(), undefined);
  h.push(7);
  t.same(drain(h), [7], 'usable after clear');
});

t.test('random pushes and pops agree with a sorted array', async (t) => {
  const rng = createRng(seed);
  const h = MinHeap.byPriority<Item>((x) => x.p);
  // The model: kept sorted by (priority, insertion), so its head is what the heap must pop.
  const model: Item[] = [];
  let id = 0;
  let mismatches = 0;
  let maxSize = 0;
  for (let op = 0; op < 50_000; op++) {
    const r = rng.next();
    // Phases that grow and shrink the heap, with few distinct priorities so ties are common.
    const pushBias = Math.floor(op / 5_000) % 2 === 0 ? 0.65 : 0.35;
    if (r < pushBias) {
      const item = { p: rng.int(50), id: id++ };
      h.push(item);
      let at = model.length;
      while (at > 0 && model[at - 1]!.p > item.p) at--;
      model.splice(at, 0, item);
    } else if (r < 0.95) {
      if (h.pop() !== model.shift()) mismatches++;
    } else {
      if (h.peek() !== model[0]) mismatches++;
    }
    if (h.size !== model.length) mismatches++;
    maxSize = Math.max(maxSize, h.size);
  }
  if (drain(h).some((x, i) => x !== model[i])) mismatches++;
  t.equal(mismatches, 0, `50,000 operations, up to ${maxSize} items, seed ${seed}`);
});
