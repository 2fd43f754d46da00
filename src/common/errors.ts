/**
 * Errors with stable codes.
 *
 * Every error that crosses a module boundary is a ShoalError (or a subclass) carrying a
 * code from the table below. Codes are API: they appear in CLI output, in gRPC status
 * details and in docs/errors.md, and are never renamed. Add new codes; do not reuse.
 */

/** Error codes and the category each belongs to (used for gRPC status mapping). */
export const ERROR_CODES = {
  // generic
  SHOAL_ERR_INVALID_ARGUMENT: 'invalid',
  SHOAL_ERR_INVALID_CONFIG: 'invalid',
  SHOAL_ERR_NOT_FOUND: 'not_found',
  SHOAL_ERR_ALREADY_EXISTS: 'exists',
  SHOAL_ERR_IN_USE: 'precondition',
  SHOAL_ERR_CLOSED: 'unavailable',
  SHOAL_ERR_TIMEOUT: 'unavailable',
  SHOAL_ERR_INTERNAL: 'internal',
  // kernel layer
  SHOAL_ERR_NETNS_NOT_FOUND: 'not_found',
  SHOAL_ERR_NETNS: 'internal',
  SHOAL_ERR_NATIVE_UNAVAILABLE: 'unavailable',
  SHOAL_ERR_NATIVE: 'internal',
  SHOAL_ERR_NETLINK: 'internal',
  SHOAL_ERR_LINK_NOT_FOUND: 'not_found',
  SHOAL_ERR_BAD_IFNAME: 'invalid',
  SHOAL_ERR_BAD_MAC: 'invalid',
  SHOAL_ERR_BAD_ADDRESS: 'invalid',
  SHOAL_ERR_BAD_PREFIX: 'invalid',
  SHOAL_ERR_BAD_VNI: 'invalid',
  SHOAL_ERR_BAD_MTU: 'invalid',
  SHOAL_ERR_BAD_SYSCTL: 'invalid',
  SHOAL_ERR_NFT: 'internal',
  SHOAL_ERR_CONNTRACK: 'internal',
  SHOAL_ERR_SYSCTL: 'internal',
  SHOAL_ERR_COMMAND_FAILED: 'internal',
  SHOAL_ERR_SYNC_FAILED: 'internal',
  // testbed
  SHOAL_ERR_TESTBED: 'internal',
  SHOAL_ERR_TESTBED_NOT_UP: 'precondition',
  SHOAL_ERR_NOT_ROOT: 'precondition',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
export type ErrorCategory = (typeof ERROR_CODES)[ErrorCode];

export interface ShoalErrorOptions {
  /** The error that led to this one. */
  cause?: unknown;
  /** Structured facts for logs and API details (names, addresses, errno). */
  details?: Record<string, unknown>;
  /** The kernel's errno name (EEXIST, ENOENT, ...) when the kernel said no. */
  errno?: string;
}

/** Base class of every error shoal throws across a module boundary. */
export class ShoalError extends Error {
  override readonly name: string = 'ShoalError';
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly errno: string | undefined;

  constructor(code: ErrorCode | (string & {}), message: string, options: ShoalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    this.errno = options.errno;
  }

  /** The category of this error's code; unknown codes are internal. */
  get category(): ErrorCategory | 'internal' {
    return (ERROR_CODES as Record<string, ErrorCategory>)[this.code] ?? 'internal';
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, details: this.details, ...(this.errno ? { errno: this.errno } : {}) };
  }
}

/** Registers more codes (a subsystem's own table) so `category` knows them. */
export function registerErrorCodes(codes: Record<string, ErrorCategory>): void {
  for (const [code, category] of Object.entries(codes)) {
    const table = ERROR_CODES as Record<string, ErrorCategory>;
    const existing = table[code];
    if (existing !== undefined && existing !== category) {
      throw new ShoalError('SHOAL_ERR_INTERNAL', `error code ${code} registered twice with different categories`);
    }
    table[code] = category;
  }
}

export function isShoalError(err: unknown, code?: string): err is ShoalError {
  return err instanceof ShoalError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a ShoalError, keeping it as the cause. */
export function asShoalError(err: unknown, code: ErrorCode = 'SHOAL_ERR_INTERNAL', message?: string): ShoalError {
  if (err instanceof ShoalError) return err;
  const msg = message ?? (err instanceof Error ? err.message : String(err));
  const errno = errnoOf(err);
  return new ShoalError(code, msg, { cause: err, ...(errno ? { errno } : {}) });
}

/** The errno name carried by a Node or netlink error (`EEXIST`), if any. */
export function errnoOf(err: unknown): string | undefined {
  if (err instanceof ShoalError) return err.errno;
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  }
  return undefined;
}
