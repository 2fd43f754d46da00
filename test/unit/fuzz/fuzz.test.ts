// The fuzz targets (test/fuzz/) in CI: each replays its whole corpus (seed inputs and the
// regression inputs of bugs found), then runs a fixed-seed share of generated inputs, and
// must break no invariant. `npm run fuzz` runs 1,000,000 per target; this keeps the whole
// file near 30 s on a loaded 2-core machine. The harness's own behaviour is checked first:
// a failing input is reported with its seed and index, and inputs regenerate from them.
import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { type FuzzTarget, fail, inputRng, loadCorpus, runTarget } from '../../fuzz/harness.ts';
import { mutateBytes, mutateDns, mutatePb, pbFields } from '../../fuzz/mutate.ts';
import { TARGETS } from '../../fuzz/targets.ts';

const SEED = 20_261_203;
/** Generated inputs per target in CI (after the corpus). */
const CI_INPUTS: Record<string, number> = {
  'gossip-datagram': 4000,
  'gossip-stream': 2000,
  dns: 4000,
  api: 1500,
  cli: 1000,
};

t.test('the harness reports a failing input with its seed and index, and goes on', async (t) => {
  const seen: number[] = [];
  const target: FuzzTarget = {
    name: 'selftest',
    description: 'fails on inputs that start with 0x42',
    seeds: () => [],
    open: async () => ({
      generate: (rng) => Uint8Array.of(rng.int(4) === 0 ? 0x42 : 0),
      run: (input) => {
        seen.push(input[0]!);
        if (input[0] === 0x42) fail('starts with 0x42');
      },
      summary: () => '',
      close: async () => undefined,
    }),
  };
  const lines: string[] = [];
  const r = await runTarget(target, { inputs: 200, seed: 5, saveCrashes: false, log: (l) => lines.push(l) });
  t.equal(seen.length, 200, 'every input ran');
  t.equal(r.failures.length, seen.filter((x) => x === 0x42).length, 'every failing input is counted');
  t.ok(r.failures.length > 0);
  const first = r.failures[0]!;
  t.equal(inputRng(5, first.index).int(4), 0, 'the reported index regenerates the failing input');
  t.match(lines[0], /^FAIL selftest seed 5 index \d+: starts with 0x42/);
});

t.test('mutations are deterministic for a seed and keep protobuf and DNS structure in reach', async (t) => {
  const pb = Uint8Array.of(0x0a, 0x03, 0x61, 0x62, 0x63, 0x10, 0x05, 0x1a, 0x02, 0x08, 0x01);
  t.same(
    pbFields(pb).map((f) => [f.field, f.wire]),
    [
      [1, 2],
      [2, 0],
      [3, 2],
    ],
  );
  const a = Array.from({ length: 50 }, (_, i) => mutatePb(inputRng(9, i), pb, [pb]));
  const b = Array.from({ length: 50 }, (_, i) => mutatePb(inputRng(9, i), pb, [pb]));
  t.same(a, b, 'the same seed and index give the same bytes');
  const dns = Uint8Array.of(0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1);
  const rng = createRng(3);
  const out = Array.from({ length: 200 }, () => mutateDns(rng, dns, [dns]));
  t.ok(
    out.some((m) => m.length >= 12 && ((m[4]! << 8) | m[5]!) > 1),
    'header counts change',
  );
  t.ok(
    out.some((m) => m.length > 12 && m[12] !== 3),
    'label lengths change',
  );
  t.ok(out.some((m) => m.length !== dns.length) && mutateBytes(createRng(1), dns, [dns]) instanceof Uint8Array);
});

for (const target of TARGETS) {
  t.test(`${target.name}: corpus and ${CI_INPUTS[target.name]} inputs of seed ${SEED}`, async (t) => {
    const corpus = loadCorpus(target.name);
    t.ok(corpus.length > 0, `${corpus.length} corpus entries (${corpus.filter((c) => c.name.startsWith('regress-')).length} regressions)`);
    const lines: string[] = [];
    const r = await runTarget(target, {
      inputs: CI_INPUTS[target.name] ?? 1000,
      seed: SEED,
      saveCrashes: false,
      log: (l) => lines.push(l),
    });
    t.comment(`${target.name}: ${Math.round(r.perSecond)} inputs/s; ${r.summary}`);
    t.same(
      r.failures.map((f) => `index ${f.index}: ${f.message}`).slice(0, 10),
      [],
      `no invariant broken (replay: npm run fuzz -- --target ${target.name} --seed ${SEED} --inputs ${CI_INPUTS[target.name]})`,
    );
    if (lines.length) t.comment(lines.join('\n'));
    // the inputs reach past the first check of each path
    const count = (label: string): number => Number(new RegExp(`${label} (\\d+)`).exec(r.summary)?.[1] ?? 0);
    if (target.name === 'gossip-datagram') t.ok(count('received') > 0 && count('malformed') > 0 && count('unauthenticated') > 0, r.summary);
    if (target.name === 'gossip-stream') t.ok(count('answered') > 0 && count('oversized') > 0 && count('cut short') > 0, r.summary);
    if (target.name === 'dns') t.ok(count('answered') > 0 && count('by design') > 0, r.summary);
    if (target.name === 'api') t.ok(count('ok') > 0 && /[1-9]\d* store checks/.test(r.summary), r.summary);
    if (target.name === 'cli') t.ok(/exit 0: [1-9]/.test(r.summary) && count('\\(exit 2\\):') > 0, r.summary);
  });
}
