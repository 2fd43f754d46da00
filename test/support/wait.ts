/**
 * Waiting on a condition with a deadline: the one polling loop the tests use instead of
 * sleeping for convergence. Kernel tests wait for netlink events, end-to-end tests for
 * processes and the manager's view of them.
 */

export interface WaitOptions {
  /**
   * What a throwing check means. false (default): the error ends the wait at once, for
   * checks that throw only when waiting is pointless (a child process exited). true: the
   * error counts as "not yet" and the last one is quoted when the deadline passes, for
   * checks that read state which may not exist yet (a file, an object over RPC).
   */
  readonly retryErrors?: boolean;
  /** Pause between checks, in ms. Default 20: short next to every deadline the tests use. */
  readonly intervalMs?: number;
}

/**
 * Polls `check` until it returns something other than undefined or false and returns that
 * value; rejects with "timed out after N ms waiting for WHAT" once `timeoutMs` has passed.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
  options: WaitOptions = {},
): Promise<T> {
  const retryErrors = options.retryErrors ?? false;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (!retryErrors) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
