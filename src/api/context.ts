/**
 * Contexts: a file naming the manager the CLI talks to when the command line and the
 * environment name none. `shoal testbed up` writes one for the manager it starts, and
 * `shoal testbed down` removes it, so that plain `shoal node ls` on this machine reaches the
 * testbed's manager.
 *
 * Where: one file per context in CONTEXT_DIR (/run/shoal, root's, gone at reboot as the
 * testbed's namespaces are). The context of the default testbed prefix `shoal-` is
 * /run/shoal/context.json and is the one used unless SHOAL_CONTEXT names another; a testbed
 * brought up with `--prefix P` writes /run/shoal/context-P.json, selected with
 * SHOAL_CONTEXT=P (the prefix exactly as given to `--prefix`).
 *
 * Format (JSON, one object; unknown fields are ignored so that later versions may add some):
 *   {
 *     "version": 1,
 *     "name": "shoal-",                                    the context's name (testbed prefix)
 *     "host": "unix:///run/shoal-testbed/shoal-/data/h1/manager.sock",
 *     "dataDir": "/run/shoal-testbed/shoal-/data/h1",    optional: certificates for tcp:// hosts
 *     "description": "testbed shoal- (3 hosts)"           optional, for people
 *   }
 * `host` takes the forms of `-H` (unix:///path or tcp://IP:PORT).
 *
 * Which manager the CLI uses, first match wins (client-options.ts applies it):
 *   -H/--host, SHOAL_HOST, --data-dir, SHOAL_DATA_DIR, the selected context, /var/lib/shoal.
 *
 * This module is loaded by every CLI command that talks to the manager: it imports node:fs
 * and the error table only.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShoalError } from '../common/errors.ts';

/** The directory of context files. */
export const CONTEXT_DIR = '/run/shoal';
/** The context used when SHOAL_CONTEXT is unset or empty: the default testbed prefix. */
export const DEFAULT_CONTEXT = 'shoal-';
/** The environment variable that selects a context by name. */
export const CONTEXT_ENV = 'SHOAL_CONTEXT';
/** The one format version this build writes and reads. */
export const CONTEXT_VERSION = 1;

export interface ShoalContext {
  /** The context's name: the testbed prefix that wrote it. */
  readonly name: string;
  /** The manager: `unix:///path` or `tcp://IP:PORT`. */
  readonly host: string;
  /** A data directory whose certificates a tcp:// host needs. */
  readonly dataDir?: string;
  readonly description?: string;
}

/** Names usable in a file name: a testbed prefix (letters, digits, `.`, `_`, `-`). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Whether `name` can name a context (and so a testbed prefix). */
export function isValidContextName(name: string): boolean {
  return NAME_RE.test(name);
}

/** The file of context `name` in `dir`. */
export function contextFilePath(name: string, dir: string = CONTEXT_DIR): string {
  if (!isValidContextName(name)) {
    throw new ShoalError(
      'SHOAL_ERR_INVALID_ARGUMENT',
      `context name ${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      { details: { name } },
    );
  }
  return join(dir, name === DEFAULT_CONTEXT ? 'context.json' : `context-${name}.json`);
}

/** The context name the environment selects, and whether it was selected explicitly. */
export function selectedContext(env: Readonly<Record<string, string | undefined>>): { name: string; explicit: boolean } {
  const v = env[CONTEXT_ENV];
  return v === undefined || v === '' ? { name: DEFAULT_CONTEXT, explicit: false } : { name: v, explicit: true };
}

/** Parses a context file's text (pure). `where` names the file in messages. */
export function parseContext(text: string, where: string): ShoalContext {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(where, `not JSON (${(err as Error).message})`, err);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(where, 'not a JSON object');
  const o = raw as Record<string, unknown>;
  const problems: string[] = [];
  if (o['version'] !== CONTEXT_VERSION) problems.push(`version must be ${CONTEXT_VERSION}, got ${JSON.stringify(o['version'])}`);
  if (typeof o['name'] !== 'string' || !isValidContextName(o['name'])) problems.push('name must be a context name');
  const host = o['host'];
  if (typeof host !== 'string' || !(host.startsWith('unix:///') || host.startsWith('tcp://')))
    problems.push('host must be unix:///path or tcp://IP:PORT');
  for (const key of ['dataDir', 'description'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'string') problems.push(`${key} must be a string`);
  }
  if (problems.length > 0) throw invalid(where, problems.join('; '));
  return {
    name: o['name'] as string,
    host: host as string,
    ...(typeof o['dataDir'] === 'string' ? { dataDir: o['dataDir'] } : {}),
    ...(typeof o['description'] === 'string' ? { description: o['description'] } : {}),
  };
}

/** The text of a context file (pure). */
export function formatContext(ctx: ShoalContext): string {
  const body: Record<string, unknown> = { version: CONTEXT_VERSION, name: ctx.name, host: ctx.host };
  if (ctx.dataDir !== undefined) body['dataDir'] = ctx.dataDir;
  if (ctx.description !== undefined) body['description'] = ctx.description;
  return `${JSON.stringify(body, null, 2)}\n`;
}

/** Reads context `name`: undefined when its file does not exist; a malformed file throws. */
export function readContext(name: string, dir: string = CONTEXT_DIR): ShoalContext | undefined {
  const path = contextFilePath(name, dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ShoalError('SHOAL_ERR_INVALID_CONFIG', `cannot read context file ${path}: ${(err as Error).message}`, {
      cause: err,
      details: { path },
      ...errnoOf(err),
    });
  }
  return parseContext(text, path);
}

/**
 * The context the environment selects: SHOAL_CONTEXT's (which must exist: naming a context
 * that is not there is an error, not a silent fall-back), else the default one if its file
 * exists, else undefined.
 */
export function readSelectedContext(
  env: Readonly<Record<string, string | undefined>>,
  dir: string = CONTEXT_DIR,
): ShoalContext | undefined {
  const { name, explicit } = selectedContext(env);
  const ctx = readContext(name, dir);
  if (ctx === undefined && explicit) {
    throw new ShoalError(
      'SHOAL_ERR_NOT_FOUND',
      `${CONTEXT_ENV}=${name}: no context file ${contextFilePath(name, dir)} (\`shoal testbed up --prefix ${name}\` writes it)`,
      { details: { name } },
    );
  }
  return ctx;
}

/** Writes a context file atomically (mode 0644: it names a socket, it holds no secret). */
export function writeContext(ctx: ShoalContext, dir: string = CONTEXT_DIR): string {
  const path = contextFilePath(ctx.name, dir);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, formatContext(ctx), { mode: 0o644 });
  renameSync(tmp, path);
  return path;
}

/** Removes context `name`'s file; a missing file is success. Returns whether one was removed. */
export function removeContext(name: string, dir: string = CONTEXT_DIR): boolean {
  const path = contextFilePath(name, dir);
  if (!existsSync(path)) return false;
  rmSync(path, { force: true });
  return true;
}

function invalid(where: string, why: string, cause?: unknown): ShoalError {
  return new ShoalError('SHOAL_ERR_INVALID_CONFIG', `context file ${where}: ${why}`, {
    details: { path: where },
    ...(cause === undefined ? {} : { cause }),
  });
}

function errnoOf(err: unknown): { errno?: string } {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? { errno: code } : {};
}
