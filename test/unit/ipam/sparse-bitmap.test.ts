import fc from 'fast-check';
import t from 'tap';
import { testSeed } from '../../support/seed.ts';
import { SparseBitmap } from '../../../src/ipam/sparse-bitmap.ts';

const seed = testSeed();

/** Brute-force first clear position in [from, to] of a model set (positions as key*bits+bit). */
function modelFindClear(set: Set<number>, from: number, to: number): number | undefined {
  for (let p = from; p <= to; p++) if (!set.has(p)) return p;
  return undefined;
}

for (const [chunkBits, keys] of [
  [4, 1],
  [256, 1],
  [4096, 4],
  [64, 8],
] as const) {
  t.test(`set/clear/findClear agree with a Set (chunk ${chunkBits} bits, ${keys} chunks)`, async () => {
    const space = chunkBits * keys;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), p: fc.nat({ max: space - 1 }) }),
      fc.record({ kind: fc.constant('clear' as const), p: fc.nat({ max: space - 1 }) }),
      fc.record({ kind: fc.constant('find' as const), a: fc.nat({ max: space - 1 }), b: fc.nat({ max: space - 1 }) }),
      // Runs of sets make dense and full chunks likely.
      fc.record({ kind: fc.constant('fill' as const), a: fc.nat({ max: space - 1 }), n: fc.nat({ max: chunkBits * 2 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const bm = new SparseBitmap(chunkBits, keys === 1);
        const model = new Set<number>();
        const k = (p: number) => Math.floor(p / chunkBits);
        const b = (p: number) => p % chunkBits;
        for (const o of ops) {
          if (o.kind === 'set') {
            if (bm.set(k(o.p), b(o.p)) !== !model.has(o.p)) return false;
            model.add(o.p);
          } else if (o.kind === 'clear') {
            if (bm.clear(k(o.p), b(o.p)) !== model.has(o.p)) return false;
            model.delete(o.p);
          } else if (o.kind === 'fill') {
            for (let p = o.a; p < Math.min(space, o.a + o.n); p++) {
              bm.set(k(p), b(p));
              model.add(p);
            }
          } else {
            const from = Math.min(o.a, o.b);
            const to = Math.max(o.a, o.b);
            const want = modelFindClear(model, from, to);
            const got = bm.findClear(k(from), b(from), k(to), b(to)) ? bm.foundKey * chunkBits + bm.foundBit : undefined;
            if (got !== want) return false;
          }
          if (bm.size !== model.size) return false;
        }
        for (let p = 0; p < space; p++) if (bm.has(k(p), b(p)) !== model.has(p)) return false;
        // Non-empty chunks only; sorted keys.
        const keysSeen = [...new Set([...model].map(k))].sort((x, y) => x - y);
        return JSON.stringify(bm.sortedKeys()) === JSON.stringify(keysSeen);
      }),
      { seed, numRuns: 300 },
    );
  });
}

t.test('a 2^64 space keeps memory proportional to what is set', async (t) => {
  const bm = new SparseBitmap(4096, false);
  const maxKey = 2 ** 52 - 1;
  t.ok(bm.set(maxKey, 4095));
  t.ok(bm.set(0, 1));
  t.ok(bm.has(maxKey, 4095));
  t.equal(bm.chunkCount, 2);
  // Searching from just below the top finds the next clear position in the same chunk.
  t.ok(bm.findClear(maxKey, 4094, maxKey, 4095));
  t.same([bm.foundKey, bm.foundBit], [maxKey, 4094]);
  t.notOk(bm.findClear(maxKey, 4095, maxKey, 4095));
  t.ok(bm.clear(maxKey, 4095));
  t.equal(bm.chunkCount, 1, 'an emptied chunk is dropped');
});
