#!/usr/bin/env node
// Reads TAP 14 from stdin (tap's `--reporter=tap` output), passes it through unchanged,
// and ends with the plain line `N passed, N failed[, N skipped]`. A test is a direct
// subtest of a test file; a file that fails outside any subtest (a crash, a timeout, a
// failing top-level assertion) counts as one failed test of its own. Extra results can be
// added with --extra-passed / --extra-failed (checks the test script runs around tap);
// with --counts FILE the counts go to FILE as `passed failed skipped` instead.
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const extra = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1] ?? 0) : 0;
};
let passed = extra('--extra-passed');
let failed = extra('--extra-failed');
let skipped = 0;
let fileFailedSubtests = 0;
const failures = [];

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  process.stdout.write(line + '\n');
  const sub = /^ {4}(not ok|ok) \d+ - (.*)$/.exec(line);
  if (sub) {
    const directive = /#\s*(SKIP|TODO)\b/i.exec(sub[2] ?? '');
    if (directive) skipped++;
    else if (sub[1] === 'ok') passed++;
    else {
      failed++;
      fileFailedSubtests++;
      failures.push(sub[2]);
    }
    continue;
  }
  const file = /^(not ok|ok) \d+ - (.*)$/.exec(line);
  if (file) {
    if (file[1] === 'not ok' && fileFailedSubtests === 0 && !/#\s*SKIP/i.test(file[2] ?? '')) {
      failed++;
      failures.push(file[2]);
    }
    fileFailedSubtests = 0;
  }
}
if (failures.length > 0) {
  process.stdout.write('\nFailed:\n' + failures.map((f) => `  - ${f}`).join('\n') + '\n');
}
const countsFile = args.indexOf('--counts') >= 0 ? args[args.indexOf('--counts') + 1] : undefined;
if (countsFile) {
  // the caller adds its own checks and prints the closing line
  (await import('node:fs')).writeFileSync(countsFile, `${passed} ${failed} ${skipped}\n`);
} else {
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
}
process.exitCode = failed > 0 ? 1 : 0;
