/** A Logger for tests that keeps what it is told at warn and error, and drops the rest. */
import type { Logger } from '../../src/common/logger.ts';

export interface LoggedLine {
  fields: Record<string, unknown>;
  msg: string;
}

export function recordingLogger(): { logger: Logger; warnings: LoggedLine[]; errors: LoggedLine[] } {
  const warnings: LoggedLine[] = [];
  const errors: LoggedLine[] = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (fields, msg = '') => void warnings.push({ fields: fields as Record<string, unknown>, msg }),
    error: (fields, msg = '') => void errors.push({ fields: fields as Record<string, unknown>, msg }),
    child: () => logger,
  };
  return { logger, warnings, errors };
}

/** One logged line as text (errors by their message), for an assertion's diff. */
export function loggedText(l: LoggedLine): string {
  return `${l.msg} ${JSON.stringify(l.fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`;
}
