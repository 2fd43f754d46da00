/**
 * Runs every conformance script against the FakeKernel alone and compares the transcript
 * with its golden file (test/unit/kernel/golden/<script>.txt). The golden files record
 * the kernel's answers as the conformance test (test/kernel/conformance/) checks them on
 * a real kernel, so this catches a change of the fake's semantics without root.
 *
 * After changing a script on purpose: SHOAL_UPDATE_GOLDEN=1 npx tap test/unit/kernel/conformance-fake.test.ts,
 * then run the kernel conformance test as root to confirm the kernel agrees.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { FakeKernel } from '../../../src/kernel/fake-kernel.ts';
import { conformanceScripts, runConformanceScript } from '../../support/conformance-scripts.ts';

const names = { a: 'shoal-tgold-a', b: 'shoal-tgold-b' };
const update = process.env['SHOAL_UPDATE_GOLDEN'] === '1';

for (const [name, script] of Object.entries(conformanceScripts)) {
  t.test(name, async (t) => {
    const kernel = new FakeKernel({ seed: 1 });
    const run = await runConformanceScript(script, { netns: kernel.netns, openRtnl: (ns) => kernel.openRtnl(ns), names });
    const file = new URL(`golden/${name}.txt`, import.meta.url);
    const text = `${run.transcript}\n`;
    if (update) writeFileSync(file, text);
    t.equal(text, readFileSync(file, 'utf8'), `${name} transcript matches golden/${name}.txt`);
    t.match(run.transcript, /: error SHOAL_ERR_/, 'the script exercises errors');
  });
}
