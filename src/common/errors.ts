/**
 * Errors with stable codes.
 *
 * Every error that crosses a module boundary is a ShoalError (or a subclass) carrying a
 * code that some table declares. A table is made with `defineErrorCodes(name, table)`: each
 * code with its category (which picks the gRPC status) and a sentence saying when it is
 * returned. The tables are the single source of docs/errors.md (generated, and checked by
 * a test). Codes are API: they appear in CLI output, in gRPC status details and in the
 * docs, and are never renamed or reused. Add new codes; do not reuse.
 *
 * A ShoalError cannot be built with a code no table declares: the constructor's type takes
 * only this file's generic and kernel codes, a subsystem's codes go through the `error`
 * constructor its own table returns, and at run time an undeclared code is refused. The
 * one exception is `ShoalError.remote`: a code that arrived over the API from another build
 * is kept as it was sent (an operator must see it), and counts as internal when unknown.
 */

/** What kind of failure a code is; the API maps categories to gRPC statuses in one table. */
export type ErrorCategory = 'invalid' | 'not_found' | 'exists' | 'precondition' | 'unavailable' | 'internal';

/** One table row: the category and when the code is returned (one sentence, for the docs). */
export type ErrorCodeRow = readonly [category: ErrorCategory, when: string];

export interface ShoalErrorOptions {
  /** The error that led to this one. */
  cause?: unknown;
  /** Structured facts for logs and API details (names, addresses, errno). */
  details?: Record<string, unknown>;
  /** The kernel's errno name (EEXIST, ENOENT, ...) when the kernel said no. */
  errno?: string;
}

/** A declared table of codes, as `defineErrorCodes` returns it. */
export interface ErrorCodes<C extends string> {
  /** The table's name (a heading in docs/errors.md). */
  readonly name: string;
  /** code -> [category, when], frozen. */
  readonly table: Readonly<Record<C, ErrorCodeRow>>;
  /** The codes, in table order. */
  readonly codes: readonly C[];
  /** Builds an error with one of this table's codes. */
  error(code: C, message: string, details?: Record<string, unknown>, cause?: unknown): ShoalError;
  /** Whether `code` is one of this table's codes. */
  has(code: string): code is C;
  /** True for a ShoalError carrying `code`, or any of this table's codes when none is given. */
  is(err: unknown, code?: C): err is ShoalError;
}

/** Every declared code -> its category; filled as each table's module loads. */
const declared = new Map<string, ErrorCategory>();
/** Every table, in the order their modules loaded. */
const tables: ErrorCodes<string>[] = [];

/**
 * Declares a table of error codes and returns its typed constructor and predicate. A code
 * declared twice (in two tables, or twice with different rows) is a programming error.
 */
export function defineErrorCodes<const T extends Record<string, ErrorCodeRow>>(
  name: string,
  table: T,
): ErrorCodes<Extract<keyof T, string>> {
  type C = Extract<keyof T, string>;
  const codes = Object.keys(table) as C[];
  for (const code of codes) {
    if (!/^SHOAL_ERR_[A-Z0-9_]+$/.test(code)) throw new TypeError(`error code ${code} is not of the form SHOAL_ERR_*`);
    if (declared.has(code)) throw new TypeError(`error code ${code} is declared twice`);
  }
  for (const code of codes) declared.set(code, table[code]![0]);
  const frozen = Object.freeze({ ...table }) as Readonly<Record<C, ErrorCodeRow>>;
  const own = new Set<string>(codes);
  const result: ErrorCodes<C> = Object.freeze({
    name,
    table: frozen,
    codes: Object.freeze(codes),
    has: (code: string): code is C => own.has(code),
    error: (code: C, message: string, details?: Record<string, unknown>, cause?: unknown) =>
      construct(code, message, { ...(details === undefined ? {} : { details }), ...(cause === undefined ? {} : { cause }) }),
    is: (err: unknown, code?: C): err is ShoalError =>
      err instanceof ShoalError && (code === undefined ? own.has(err.code) : err.code === code),
  });
  tables.push(result as unknown as ErrorCodes<string>);
  return result;
}

/** The tables declared so far (each subsystem's errors module declares its own on load). */
export function declaredErrorTables(): readonly ErrorCodes<string>[] {
  return tables;
}

let allowUndeclared = false;

/** Base class of every error shoal throws across a module boundary. */
export class ShoalError extends Error {
  override readonly name: string = 'ShoalError';
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly errno: string | undefined;

  constructor(code: CommonErrorCode, message: string, options: ShoalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!allowUndeclared && !declared.has(code)) throw new TypeError(`error code ${code} is declared by no table`);
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    this.errno = options.errno;
  }

  /**
   * An error received from another process (the API's trailing metadata): the code is kept
   * as sent, declared here or not, so that a newer manager's code reaches the operator.
   */
  static remote(code: string, message: string, options: ShoalErrorOptions = {}): ShoalError {
    allowUndeclared = true;
    try {
      return new ShoalError(code as CommonErrorCode, message, options);
    } finally {
      allowUndeclared = false;
    }
  }

  /** The category of this error's code; a code no table of this build declares is internal. */
  get category(): ErrorCategory {
    return declared.get(this.code) ?? 'internal';
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, details: this.details, ...(this.errno ? { errno: this.errno } : {}) };
  }
}

/** Builds a ShoalError with any declared code: the path every table's `error` takes. */
function construct(code: string, message: string, options: ShoalErrorOptions): ShoalError {
  return new ShoalError(code as CommonErrorCode, message, options);
}

/** Generic codes, and those of the kernel layer and the testbed (which have no table of their own). */
export const COMMON_ERRORS = defineErrorCodes('Generic, kernel and testbed', {
  // generic
  SHOAL_ERR_INVALID_ARGUMENT: ['invalid', 'a value that is not valid where no more specific code applies'],
  SHOAL_ERR_INVALID_CONFIG: ['invalid', 'a configuration object with one or more bad fields (all are listed)'],
  SHOAL_ERR_NOT_FOUND: ['not_found', 'an object that does not exist (the kernel said ENOENT or ESRCH)'],
  SHOAL_ERR_ALREADY_EXISTS: ['exists', 'an object that exists already (the kernel said EEXIST)'],
  SHOAL_ERR_IN_USE: ['precondition', 'an object still used by another'],
  SHOAL_ERR_CLOSED: ['unavailable', 'a handle used after close()'],
  SHOAL_ERR_TIMEOUT: ['unavailable', 'an operation that did not finish in time'],
  SHOAL_ERR_INTERNAL: ['internal', 'a bug: please report it with the message'],
  // kernel layer
  SHOAL_ERR_NETNS_NOT_FOUND: ['not_found', 'a network namespace that does not exist'],
  SHOAL_ERR_NETNS: ['internal', 'creating, entering or deleting a namespace failed (errno attached)'],
  SHOAL_ERR_NATIVE_UNAVAILABLE: ['unavailable', 'the native addon is not built: run `npm run build:native`'],
  SHOAL_ERR_NATIVE: ['internal', 'a system call in the native addon failed (errno attached)'],
  SHOAL_ERR_NETLINK: ['internal', 'the kernel refused a netlink request (errno attached)'],
  SHOAL_ERR_LINK_NOT_FOUND: ['not_found', 'a link named in a request does not exist in that namespace'],
  SHOAL_ERR_BAD_IFNAME: ['invalid', 'an interface name that is empty, longer than 15 characters, or holds `/`, `:` or white space'],
  SHOAL_ERR_BAD_MAC: ['invalid', 'a MAC address not of the form xx:xx:xx:xx:xx:xx'],
  SHOAL_ERR_BAD_ADDRESS: ['invalid', 'an IP address that does not parse, or of the wrong family'],
  SHOAL_ERR_BAD_PREFIX: ['invalid', 'a prefix length out of range, a CIDR without one, or host bits set in a route destination'],
  SHOAL_ERR_BAD_VNI: ['invalid', 'a VXLAN ID outside 1-16777215'],
  SHOAL_ERR_BAD_MTU: ['invalid', 'an MTU outside 68-65535'],
  SHOAL_ERR_BAD_SYSCTL: ['invalid', 'a sysctl name with characters or a form the kernel does not have, or outside `net.*` for a namespace'],
  SHOAL_ERR_NFT: ['internal', "nft refused a transaction (nothing of it was applied; nft's message attached)"],
  SHOAL_ERR_CONNTRACK: ['internal', 'deleting connection-tracking entries failed (ctnetlink or the conntrack tool)'],
  SHOAL_ERR_SYSCTL: ['internal', 'reading or writing a sysctl failed (errno attached)'],
  SHOAL_ERR_COMMAND_FAILED: ['internal', 'a helper command (nft, conntrack, nsenter) exited non-zero or could not start'],
  SHOAL_ERR_SYNC_FAILED: ['internal', 'a reconciliation pass did not converge; the details list what was not applied'],
  // testbed
  SHOAL_ERR_TESTBED: ['internal', 'the testbed could not be brought up or down'],
  SHOAL_ERR_TESTBED_NOT_UP: ['precondition', 'a testbed host that does not exist (run `shoal testbed up`)'],
  SHOAL_ERR_NOT_ROOT: ['precondition', 'an operation that needs root (namespaces, the testbed)'],
});

export type CommonErrorCode = (typeof COMMON_ERRORS.codes)[number];

export function isShoalError(err: unknown, code?: string): err is ShoalError {
  return err instanceof ShoalError && (code === undefined || err.code === code);
}

/**
 * An error message as one printable line: control characters (a newline or an escape
 * sequence in a name the user typed, quoted back) are written as \n, \t, \u001b.
 */
export function printableMessage(message: string): string {
  return message.replace(/[\p{Cc}]/gu, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A ShoalError whose code says the object does not exist (any table's not_found code). */
export function isNotFound(err: unknown): err is ShoalError {
  return err instanceof ShoalError && err.category === 'not_found';
}

/** A ShoalError whose code says the object exists already (any table's exists code). */
export function isExists(err: unknown): err is ShoalError {
  return err instanceof ShoalError && err.category === 'exists';
}

/** Errnos by which the kernel says "not there": ENODEV for links, EADDRNOTAVAIL for addresses. */
const MISSING_ERRNOS = new Set(['ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL']);

/** The object an operation named is not there: a not_found code, or a "missing" errno. */
export function isMissing(err: unknown): boolean {
  return err instanceof ShoalError && (err.category === 'not_found' || MISSING_ERRNOS.has(err.errno ?? ''));
}

/**
 * Runs a delete: true when it removed something, false when there was nothing to remove
 * (deleting what is missing is success). Any other failure is thrown.
 */
export async function deletedUnlessMissing(op: () => unknown): Promise<boolean> {
  try {
    await op();
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/** Wraps anything thrown into a ShoalError, keeping it as the cause. */
export function asShoalError(err: unknown, code: CommonErrorCode = 'SHOAL_ERR_INTERNAL', message?: string): ShoalError {
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

/**
 * The code for an errno the kernel answered with, where a generic code says it better
 * than "the kernel refused": EEXIST, ENODEV (a link), ENOENT/ESRCH; else `fallback`.
 */
export function codeForErrno(errno: string | undefined, fallback: CommonErrorCode): CommonErrorCode {
  switch (errno) {
    case 'EEXIST':
      return 'SHOAL_ERR_ALREADY_EXISTS';
    case 'ENODEV':
      return 'SHOAL_ERR_LINK_NOT_FOUND';
    case 'ENOENT':
    case 'ESRCH':
      return 'SHOAL_ERR_NOT_FOUND';
    default:
      return fallback;
  }
}
