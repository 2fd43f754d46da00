/**
 * The error the CLI raises when the command line itself is wrong: an unknown flag value, a
 * malformed --publish, a bad duration. It is detected before any request is sent, so the
 * manager never sees it; the CLI exits with status 2 for it (1 is for errors the manager
 * returned). Its code is the generic SHOAL_ERR_INVALID_ARGUMENT so scripts that match on
 * codes treat client-side and server-side validation alike.
 */
import { ShoalError } from '../../common/errors.ts';

export class UsageError extends ShoalError {
  override readonly name: string = 'UsageError';

  constructor(message: string, details: Record<string, unknown> = {}) {
    super('SHOAL_ERR_INVALID_ARGUMENT', message, { details });
  }
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}

/** Docker's wording for a flag whose value does not parse. */
export function badFlagValue(flag: string, value: string, reason: string): UsageError {
  return new UsageError(`invalid argument ${JSON.stringify(value)} for "${flag}" flag: ${reason}`, { flag, value });
}
