/**
 * Logging. Libraries take a Logger and never create one; entry points (CLI, manager,
 * agent) create the root logger. Structured fields first, message second (pino's order).
 */
import { pino } from 'pino';

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** pino level name: trace, debug, info, warn, error, fatal, silent. */
  level?: string;
  /** Component name bound to every line. */
  name?: string;
  /** Write to stderr (default) or a file descriptor. */
  fd?: number;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env['SHOAL_LOG_LEVEL'] ?? 'info';
  return pino({ level, ...(options.name ? { name: options.name } : {}) }, pino.destination({ fd: options.fd ?? 2, sync: true }));
}

/** A logger that drops everything: the default for libraries and tests. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
