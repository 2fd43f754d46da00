/**
 * Shared pieces of randomised and error-table tests: the replayable seed (printed, and
 * set with SHOAL_SEED) and helpers that turn a throwing call into its code or message.
 */
import t from 'tap';
import { isShoalError } from '../../src/common/errors.ts';

/** The seed of this test file: SHOAL_SEED when given, otherwise fresh; printed either way. */
export function testSeed(): number {
  const seed = Number(process.env['SHOAL_SEED'] ?? Date.now() % 2 ** 31);
  t.comment(`fast-check seed ${seed} (set SHOAL_SEED to replay)`);
  return seed;
}

/** The ShoalError code `fn` throws, or undefined when it does not throw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isShoalError(err) ? err.code : `not a ShoalError: ${String(err)}`;
  }
}

/** The message `fn` throws, or '' when it does not throw. */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}
