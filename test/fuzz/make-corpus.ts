/**
 * Writes the seed corpus: test/fuzz/corpus/<target>/seed-NNN, one valid input each, made
 * by our own encoders (each target's seeds()). Regression entries (regress-*) are kept.
 * Run after changing a wire format or a target's input layout, and commit the outputs:
 *   node --import tsx test/fuzz/make-corpus.ts [TARGET...]
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_ROOT } from './harness.ts';
import { TARGETS } from './targets.ts';

const only = process.argv.slice(2);
for (const target of TARGETS) {
  if (only.length && !only.includes(target.name)) continue;
  const dir = join(CORPUS_ROOT, target.name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.startsWith('seed-')) rmSync(join(dir, f));
  const seeds = target.seeds();
  for (const [i, s] of seeds.entries()) writeFileSync(join(dir, `seed-${String(i).padStart(3, '0')}`), s);
  process.stdout.write(`${target.name}: ${seeds.length} seed inputs in ${dir}\n`);
}
