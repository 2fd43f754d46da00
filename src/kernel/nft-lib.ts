/**
 * nft calls inside this process, through libnftables: the library the `nft` tool is a
 * thin wrapper over. One call through the tool costs 14-100 ms here, almost all of it
 * process start; nft's own work for a small transaction is 2-5 ms.
 *
 * The native addon's nftRun() runs one call on a libuv pool thread: the thread enters the
 * namespace, creates a fresh nft context there (its netlink socket then belongs to that
 * namespace), runs the text, collects what nft would have printed on stdout and stderr,
 * frees the context and returns to its own namespace (or aborts the process). The event
 * loop never waits on nft.
 *
 * libnftables is not documented as thread-safe, so this module keeps one call in flight
 * per process: a FIFO queue, whichever KernelNft or namespace the calls are for.
 *
 * Which backend a KernelNft uses (nftBackend()): SHOAL_NFT=exec forces the tool,
 * SHOAL_NFT=library requires the library; unset, the library is used when the addon is
 * built and libnftables.so.1 loads, and the tool otherwise.
 *
 * A library call cannot be killed. Its timeout rejects the caller's promise with
 * SHOAL_ERR_TIMEOUT, but the pool thread stays busy until libnftables returns, and the
 * transaction may still apply; the calls queued behind it wait (each within its own
 * timeout, which counts from the moment it was queued).
 */
import { ShoalError } from '../common/errors.ts';
import { commandLine, DEFAULT_EXEC_TIMEOUT_MS, type ExecResult, firstLines } from './exec.ts';
import { native, nativeError } from './native.ts';
import { netnsPath } from './netns.ts';

export const NFT_BACKENDS = ['library', 'exec'] as const;
export type NftBackend = (typeof NFT_BACKENDS)[number];

/** One nft run: the tool's output options and either command words or a script. */
export interface NftCall {
  /** `-j`: JSON output, and a script is read as JSON. */
  json: boolean;
  /** `-a`: rule handles in text output. */
  handles: boolean;
  /** Command words (`list table inet shoal`), as on the tool's command line. */
  words?: readonly string[];
  /** Script text (`-f -`), or with `json` a JSON document (`-j -f FILE`). */
  script?: string;
}

/** The tool's arguments for a call whose script arrives on stdin or in `file`. */
export function nftCallArgs(call: NftCall, file = '-'): string[] {
  const args = [...(call.json ? ['-j'] : []), ...(call.handles ? ['-a'] : [])];
  return call.script === undefined ? [...args, ...(call.words ?? [])] : [...args, '-f', file];
}

interface NftRunResult {
  rc: number;
  out: string;
  err: string;
  /** The name a script was run under, or null for command words. */
  file: string | null;
}

interface NftAddon {
  nftLoad?: () => string | null;
  nftRun?: (nsPath: string | null, outputFlags: number, text: string, asFile: boolean) => Promise<NftRunResult>;
  constants: { NFT_OUTPUT_JSON?: number; NFT_OUTPUT_HANDLE?: number };
}

let probed: { addon: Required<NftAddon>; json: number; handle: number } | { why: string } | undefined;

function probe(): { addon: Required<NftAddon>; json: number; handle: number } | { why: string } {
  if (probed) return probed;
  let addon: NftAddon;
  try {
    addon = native() as unknown as NftAddon;
  } catch (err) {
    probed = { why: (err as Error).message };
    return probed;
  }
  const { NFT_OUTPUT_JSON: json, NFT_OUTPUT_HANDLE: handle } = addon.constants;
  if (typeof addon.nftRun !== 'function' || typeof addon.nftLoad !== 'function' || json === undefined || handle === undefined) {
    probed = { why: 'the native addon predates libnftables support: run `npm run build:native`' };
    return probed;
  }
  const why = addon.nftLoad();
  probed = why === null ? { addon: addon as Required<NftAddon>, json, handle } : { why };
  return probed;
}

/** Why libnftables cannot be used in this process, or undefined when it can. */
export function libnftablesUnavailable(): string | undefined {
  const p = probe();
  return 'why' in p ? p.why : undefined;
}

/**
 * The backend to use: `requested` if given, else SHOAL_NFT from `env` (exec or library),
 * else the library when it loads. A requested library that cannot load is
 * SHOAL_ERR_NATIVE_UNAVAILABLE; an unknown SHOAL_NFT is SHOAL_ERR_INVALID_ARGUMENT.
 */
export function nftBackend(requested?: NftBackend, env: NodeJS.ProcessEnv = process.env): NftBackend {
  let choice: NftBackend | undefined = requested;
  if (choice === undefined) {
    const v = env['SHOAL_NFT'] ?? '';
    if (v !== '' && !(NFT_BACKENDS as readonly string[]).includes(v)) {
      throw new ShoalError(
        'SHOAL_ERR_INVALID_ARGUMENT',
        `SHOAL_NFT=${JSON.stringify(v)} is not one of ${NFT_BACKENDS.join(', ')} (or unset)`,
        {
          details: { SHOAL_NFT: v },
        },
      );
    }
    choice = v === '' ? undefined : (v as NftBackend);
  }
  if (choice === 'exec') return 'exec';
  const why = libnftablesUnavailable();
  if (why === undefined) return 'library';
  if (choice === undefined) return 'exec';
  throw new ShoalError('SHOAL_ERR_NATIVE_UNAVAILABLE', `nft through libnftables is not available: ${why}`);
}

interface Job {
  nsPath: string | null;
  flags: number;
  text: string;
  asFile: boolean;
  state: 'queued' | 'running' | 'done';
  resolve(r: NftRunResult): void;
  reject(e: unknown): void;
}

const queue: Job[] = [];
let busy = false;

function pump(addon: Required<NftAddon>): void {
  if (busy) return;
  const job = queue.shift();
  if (!job) return;
  busy = true;
  job.state = 'running';
  let p: Promise<NftRunResult>;
  try {
    p = addon.nftRun(job.nsPath, job.flags, job.text, job.asFile);
  } catch (err) {
    p = Promise.reject(err);
  }
  p.then(
    (r) => job.resolve(r),
    (e: unknown) => job.reject(e),
  ).finally(() => {
    busy = false;
    pump(addon);
  });
}

export interface NftLibraryOptions {
  okExitCodes?: readonly number[];
  /** Milliseconds, from the moment the call is queued; default DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Runs one call through libnftables in network namespace `netns` ('' = the namespace this
 * process was in when the addon loaded). Resolves like execInNetns() does for the tool:
 * `code` is 0, or 1 when nft failed and 1 is in okExitCodes; otherwise a failure is
 * SHOAL_ERR_COMMAND_FAILED carrying exitCode 1 and nft's error text as `stderr`.
 */
export async function runNftLibrary(netns: string, call: NftCall, options: NftLibraryOptions = {}): Promise<ExecResult> {
  const p = probe();
  if ('why' in p) throw new ShoalError('SHOAL_ERR_NATIVE_UNAVAILABLE', `nft through libnftables is not available: ${p.why}`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `command timeout ${timeoutMs} ms must be a positive integer`);
  }
  const nsPath = netns === '' ? null : netnsPath(netns);
  const line = `${commandLine(netns, 'nft', nftCallArgs(call))} (libnftables)`;
  const flags = (call.json ? p.json : 0) | (call.handles ? p.handle : 0);
  const text = call.script ?? (call.words ?? []).join(' ');

  const r = await new Promise<NftRunResult>((resolve, reject) => {
    const job: Job = {
      nsPath,
      flags,
      text,
      asFile: call.script !== undefined && !call.json,
      state: 'queued',
      resolve: (v) => {
        if (job.state === 'done') return;
        job.state = 'done';
        clearTimeout(timer);
        resolve(v);
      },
      reject: (e) => {
        if (job.state === 'done') return;
        job.state = 'done';
        clearTimeout(timer);
        reject(e);
      },
    };
    const timer = setTimeout(() => {
      const running = job.state === 'running';
      if (!running) queue.splice(queue.indexOf(job), 1);
      job.reject(
        new ShoalError(
          'SHOAL_ERR_TIMEOUT',
          running
            ? `${line} did not finish within ${timeoutMs} ms; libnftables cannot be interrupted: its thread stays busy and the transaction may still apply`
            : `${line} did not start within ${timeoutMs} ms: an earlier nft call is still running`,
          { details: { command: line, netns, timeoutMs, running } },
        ),
      );
    }, timeoutMs);
    queue.push(job);
    pump(p.addon);
  }).catch((err: unknown) => {
    if (err instanceof ShoalError) throw err;
    const e = nativeError(err, `${line} failed`);
    if (e.code === 'SHOAL_ERR_NETNS_NOT_FOUND') {
      // The tool's words (execInNetns), so that callers and users see one message.
      throw new ShoalError('SHOAL_ERR_NETNS_NOT_FOUND', `network namespace ${netns} does not exist`, {
        cause: e,
        details: { netns, command: line },
        errno: 'ENOENT',
      });
    }
    throw e;
  });

  // The tool reads `-f -` as /dev/stdin and names it so in its errors.
  const stderr = r.file === null ? r.err : r.err.split(`${r.file}:`).join('/dev/stdin:');
  const code = r.rc === 0 ? 0 : 1;
  if (code === 0 || (options.okExitCodes ?? []).includes(code)) return { code, stdout: r.out, stderr };
  throw new ShoalError('SHOAL_ERR_COMMAND_FAILED', `${line} failed${stderr.trim() ? `: ${firstLines(stderr)}` : ''}`, {
    details: { command: line, netns, exitCode: code, stderr },
  });
}
