/**
 * What "running in CI" means, in the one place both the test runner (scripts/run-tests.ts)
 * and the kernel-tier guard (requireKernel in kernel.ts) read it: the variable CI set to
 * anything except empty, `0` or `false` (any case). CI systems set CI=true, GitLab and
 * others CI=1; a developer who exports CI=0 or CI=false to opt out is not in CI.
 */
export function isCi(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = (env['CI'] ?? '').toLowerCase();
  return value !== '' && value !== '0' && value !== 'false';
}
