/**
 * A recording fake of the CLI's API handle, for the command modules' unit tests: every
 * method call is recorded with its arguments in `calls` and answered by the test's
 * function of that name; a call the test did not provide fails ("unexpected call"), so a
 * command that asks more than it should is caught. The handle is not a promise (no
 * `then`), so awaiting it yields the handle itself.
 */
import type { ApiHandle } from '../../src/cli/client-options.ts';

/** The test's answers, by method name. */
export type ApiImpl = Partial<Record<string, (...args: unknown[]) => unknown>>;

export function recordingApi(calls: [string, ...unknown[]][], impl: ApiImpl): ApiHandle {
  return new Proxy({} as ApiHandle, {
    get(_target, prop: string) {
      if (prop === 'close') return () => undefined;
      if (prop === 'then') return undefined;
      return async (...args: unknown[]) => {
        calls.push([prop, ...args]);
        const f = impl[prop];
        if (!f) throw new Error(`unexpected call ${prop}`);
        return f(...args);
      };
    },
  });
}
