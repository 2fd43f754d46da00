/**
 * Conformance of FakeKernel with the real kernel: every script in
 * test/support/conformance-scripts.ts runs once against a FakeKernel and once against the
 * real kernel (two fresh namespaces `shoal-t<random>-a/-b`, deleted afterwards even when
 * the test fails), and the transcripts (outcomes, error codes, errnos, checkpoint dumps)
 * and final dumps must be identical.
 *
 * Needs root and network namespaces. Without them the test is skipped on a developer
 * machine and fails in CI, where it must run.
 */
import t from 'tap';
import { FakeKernel } from '../../../src/kernel/fake-kernel.ts';
import { createNetnsManager, openRtnl } from '../../../src/kernel/index.ts';
import { conformanceScripts, runConformanceScript, type ConformanceNames } from '../../support/conformance-scripts.ts';
import { requireKernel, testPrefix } from '../../support/kernel.ts';

if (requireKernel(t)) {
  const netns = createNetnsManager();
  for (const [name, script] of Object.entries(conformanceScripts)) {
    t.test(name, async (t) => {
      const prefix = testPrefix();
      const names: ConformanceNames = { a: `${prefix}-a`, b: `${prefix}-b` };
      t.teardown(async () => {
        await netns.delete(names.a);
        await netns.delete(names.b);
      });
      const real = await runConformanceScript(script, { netns, openRtnl, names });
      const kernel = new FakeKernel();
      const fake = await runConformanceScript(script, { netns: kernel.netns, openRtnl: (ns) => kernel.openRtnl(ns), names });
      t.equal(fake.transcript, real.transcript, `${name}: the fake's transcript matches the kernel's`);
      t.equal(fake.dumps.a, real.dumps.a, `${name}: namespace a dumps alike`);
      t.equal(fake.dumps.b, real.dumps.b, `${name}: namespace b dumps alike`);
    });
  }
}
