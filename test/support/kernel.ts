/**
 * Support for kernel-tier tests: throwaway namespaces with unique names, removed in
 * teardown whatever happens; and the rule that these tests never skip in CI (isCi in
 * ci.ts says what CI is).
 */
import { randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import type { Test } from 'tap';
import { createNetnsManager } from '../../src/kernel/netns.ts';
import { isCi } from './ci.ts';
import { waitUntil } from './wait.ts';

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailable(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'kernel tests need root';
  try {
    execFileSync('unshare', ['--net', 'true'], { stdio: 'ignore' });
  } catch {
    return 'network namespaces are not available';
  }
  return undefined;
}

/**
 * Call at the top of a kernel or e2e test file. Returns false when the file must not run
 * (outside CI, without root or namespaces: the test is skipped with the reason). In CI
 * (isCi: CI set to anything but empty, 0 or false) a missing capability fails the file
 * instead: kernel tests never skip there.
 */
export function requireKernel(t: Test): boolean {
  const why = kernelUnavailable();
  if (!why) return true;
  if (isCi(process.env)) {
    t.fail(`${why}; CI must run kernel tests`);
    return false;
  }
  t.plan(0, why);
  return false;
}

/** A unique name prefix for one test's namespaces: `shoal-t<6 hex>`. */
export function testPrefix(): string {
  return `shoal-t${randomBytes(3).toString('hex')}`;
}

/**
 * Creates namespaces `<prefix>-<suffix>` for each suffix and registers their removal
 * in t.teardown (runs on failure too). Returns the names.
 */
export async function throwawayNamespaces<S extends string>(t: Test, ...suffixes: S[]): Promise<Record<S, string>> {
  const netns = createNetnsManager();
  const prefix = testPrefix();
  const names = {} as Record<S, string>;
  t.teardown(async () => {
    for (const s of suffixes) await netns.delete(`${prefix}-${s}`);
  });
  for (const s of suffixes) {
    names[s] = `${prefix}-${s}`;
    await netns.create(names[s]);
  }
  return names;
}

/** Runs a command and returns stdout (throws with stderr on failure). */
export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `ip -j -n NS ...` parsed. */
export function ipJson<T = unknown>(netns: string, ...args: string[]): T {
  const out = run('ip', ['-j', '-n', netns, ...args]);
  return (out.trim() ? JSON.parse(out) : []) as T;
}

/** `bridge -j -n NS ...` parsed. */
export function bridgeJson<T = unknown>(netns: string, ...args: string[]): T {
  const out = run('bridge', ['-j', '-n', netns, ...args]);
  return (out.trim() ? JSON.parse(out) : []) as T;
}

/** Waits until `check` returns true, polling; a throwing check ends the wait; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  await waitUntil(check, timeoutMs, what);
}

/** Like run(), without blocking the event loop (for talking to servers in this process). */
export function runAsync(cmd: string, args: string[], input?: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/**
 * One namespace `shoal-t<hex>-<label>` for a test, removed in teardown; undefined (and the
 * test planned as skipped, or failed in CI) where kernel tests cannot run.
 */
export function throwawayNetns(t: Test, label: string): string | undefined {
  if (!requireKernel(t)) return undefined;
  const name = `${testPrefix()}-${label}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  t.teardown(() => {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
  });
  return name;
}
