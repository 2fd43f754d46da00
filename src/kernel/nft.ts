/**
 * nftables in one network namespace (nftables 1.0.6), through one of two backends that
 * run the same calls and report the same results and errors:
 * - `library`: libnftables inside this process (nft-lib.ts), no process start per call;
 *   the default when the native addon is built and libnftables.so.1 loads;
 * - `exec`: the `nft` tool, entered with nsenter (exec.ts); forced with SHOAL_NFT=exec.
 *
 * A transaction is the whole text of one `nft -f -` run (JSON: one `nft -j -f FILE` run;
 * the tool reads a private temporary file, the library the text itself):
 * nft sends it to the kernel as one netlink batch, so either all of it applies or none of
 * it does. That atomicity is what lets shoal rebuild its own table in one step per sync.
 * Listing is `nft -j list table`, parsed; the `metainfo` element is dropped.
 *
 * Also here, for the conformance test and for `doctor`: canonicalNftTable(), the sorted
 * text form of a table dump in which the real kernel's and FakeNft's dumps agree, and
 * withRuleText(), which puts each rule's printed text (from `nft -a list table`) next to
 * its JSON, because FakeNft keeps rules as text and cannot produce nft's expression JSON.
 *
 * nft 1.0.6 facts this code relies on (checked on this machine):
 * - a missing table: `nft list table` exits 1 with "Error: No such file or directory"
 *   (sometimes followed by "; did you mean ..."); `delete table` with
 *   "Error: Could not process rule: No such file or directory";
 * - `destroy` (delete-if-exists) does not exist before nft 1.0.8: deleteTable therefore
 *   runs `delete table` and reads ENOENT as "already gone";
 * - a chain or set body needs ';' before '}'; the priority keyword `dstnat` is valid only
 *   on prerouting and `srcnat` only on postrouting (use -100 / 100 elsewhere).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShoalError } from '../common/errors.ts';
import { type ExecResult, execInNetns, firstLines } from './exec.ts';
import { type NftBackend, type NftCall, nftBackend, nftCallArgs, runNftLibrary } from './nft-lib.ts';
import type { Nft, NftTableDump } from './types.ts';

export const NFT_FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'] as const;
export type NftFamily = (typeof NFT_FAMILIES)[number];

/** NFT_NAME_MAXLEN is 256 including the terminating NUL. */
const NFT_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;

export function validateNftFamily(family: string): asserts family is NftFamily {
  if (!(NFT_FAMILIES as readonly string[]).includes(family)) {
    throw new ShoalError(
      'SHOAL_ERR_INVALID_ARGUMENT',
      `nftables family ${JSON.stringify(family)} is not one of ${NFT_FAMILIES.join(', ')}`,
      { details: { family } },
    );
  }
}

export function validateNftName(name: string, what = 'table'): void {
  if (typeof name !== 'string' || !NFT_NAME_RE.test(name)) {
    throw new ShoalError(
      'SHOAL_ERR_INVALID_ARGUMENT',
      `nftables ${what} name ${JSON.stringify(name)} must start with a letter or _ and contain only letters, digits, _ . -`,
      { details: { name } },
    );
  }
}

/** The errno nft's first error names, when it names one (later errors often follow from it). */
export function nftErrno(stderr: string): string | undefined {
  const first = stderr.split('\n').find((l) => /Error: /.test(l)) ?? '';
  const table: Array<[RegExp, string]> = [
    [/No such file or directory/, 'ENOENT'],
    [/File exists/, 'EEXIST'],
    [/Device or resource busy/, 'EBUSY'],
    [/Operation not supported/, 'EOPNOTSUPP'],
    [/Invalid argument/, 'EINVAL'],
    [/Operation not permitted/, 'EPERM'],
    [/Too many links/, 'EMLINK'],
    [/No buffer space available/, 'ENOBUFS'],
    [/Message too long/, 'EMSGSIZE'],
  ];
  for (const [re, errno] of table) if (re.test(first)) return errno;
  return undefined;
}

function nftError(what: string, err: unknown, netns: string): unknown {
  if (!(err instanceof ShoalError) || err.code !== 'SHOAL_ERR_COMMAND_FAILED') return err;
  const stderr = String(err.details['stderr'] ?? '');
  const errno = nftErrno(stderr);
  return new ShoalError('SHOAL_ERR_NFT', `${what} failed: ${firstLines(stderr, 6) || err.message}`, {
    cause: err,
    details: { netns, stderr: stderr.length > 8192 ? `${stderr.slice(0, 8192)}...` : stderr, exitCode: err.details['exitCode'] },
    ...(errno ? { errno } : {}),
  });
}

/** True when nft's stderr says the object named on the command line does not exist. */
export function isNftNoSuchObject(stderr: string): boolean {
  const first = stderr.split('\n', 1)[0] ?? '';
  return /^Error: (Could not process rule: )?No such file or directory(;|$)/.test(first);
}

/** Drops the metainfo element of an `nft -j` document and returns the objects. */
export function nftObjects(doc: unknown): unknown[] {
  const list = (doc as { nftables?: unknown } | null)?.nftables;
  if (!Array.isArray(list)) throw new ShoalError('SHOAL_ERR_NFT', 'nft -j output has no nftables array');
  return list.filter((o) => !(typeof o === 'object' && o !== null && 'metainfo' in o));
}

export interface NftOptions {
  /** Milliseconds one nft call may take; default exec.ts's DEFAULT_EXEC_TIMEOUT_MS. The tool
   * is killed then; a library call is abandoned (see nft-lib.ts) and counts from when it
   * was queued. */
  timeoutMs?: number;
  /** `library` or `exec`; default: SHOAL_NFT, else the library when it loads (nftBackend()). */
  backend?: NftBackend;
}

export type KernelNftHandle = Nft & {
  readonly backend: NftBackend;
  listTableText(family: string, name: string): Promise<string | undefined>;
};

class KernelNft implements KernelNftHandle {
  readonly netns: string;
  readonly backend: NftBackend;
  readonly #timeoutMs: number | undefined;

  constructor(netns: string, options: NftOptions) {
    this.netns = netns;
    this.backend = nftBackend(options.backend);
    this.#timeoutMs = options.timeoutMs;
  }

  async apply(tx: string | { nftables: unknown[] }): Promise<void> {
    if (typeof tx === 'string') {
      if (tx.trim() === '') return;
      try {
        await this.#run({ json: false, handles: false, script: tx });
      } catch (err) {
        throw nftError('nft transaction', err, this.netns);
      }
      return;
    }
    try {
      await this.#run({ json: true, handles: false, script: JSON.stringify(tx) });
    } catch (err) {
      throw nftError('nft JSON transaction', err, this.netns);
    }
  }

  async listTable(family: string, name: string): Promise<NftTableDump | undefined> {
    validateNftFamily(family);
    validateNftName(name);
    let result;
    try {
      result = await this.#run({ json: true, handles: false, words: ['list', 'table', family, name] }, [1]);
    } catch (err) {
      throw nftError(`nft list table ${family} ${name}`, err, this.netns);
    }
    if (result.code !== 0) {
      if (isNftNoSuchObject(result.stderr)) return undefined;
      throw new ShoalError('SHOAL_ERR_NFT', `nft list table ${family} ${name} failed: ${firstLines(result.stderr, 6)}`, {
        details: { netns: this.netns, stderr: result.stderr },
        ...(nftErrno(result.stderr) ? { errno: nftErrno(result.stderr)! } : {}),
      });
    }
    return { family, name, json: nftObjects(parseJson(result.stdout)) };
  }

  async deleteTable(family: string, name: string): Promise<boolean> {
    validateNftFamily(family);
    validateNftName(name);
    const result = await this.#run({ json: false, handles: false, words: ['delete', 'table', family, name] }, [1]).catch((err: unknown) => {
      throw nftError(`nft delete table ${family} ${name}`, err, this.netns);
    });
    if (result.code === 0) return true;
    if (isNftNoSuchObject(result.stderr)) return false;
    throw new ShoalError('SHOAL_ERR_NFT', `nft delete table ${family} ${name} failed: ${firstLines(result.stderr, 6)}`, {
      details: { netns: this.netns, stderr: result.stderr },
    });
  }

  async listTables(): Promise<Array<{ family: string; name: string }>> {
    let result;
    try {
      result = await this.#run({ json: true, handles: false, words: ['list', 'tables'] });
    } catch (err) {
      throw nftError('nft list tables', err, this.netns);
    }
    const out: Array<{ family: string; name: string }> = [];
    for (const o of nftObjects(parseJson(result.stdout))) {
      const t = (o as { table?: { family?: unknown; name?: unknown } }).table;
      if (t && typeof t.family === 'string' && typeof t.name === 'string') out.push({ family: t.family, name: t.name });
    }
    return out;
  }

  /** `nft -a list table` text (rules with `# handle N`), for withRuleText(); undefined when missing. */
  async listTableText(family: string, name: string): Promise<string | undefined> {
    validateNftFamily(family);
    validateNftName(name);
    const result = await this.#run({ json: false, handles: true, words: ['list', 'table', family, name] }, [1]).catch((err: unknown) => {
      throw nftError(`nft list table ${family} ${name}`, err, this.netns);
    });
    if (result.code === 0) return result.stdout;
    if (isNftNoSuchObject(result.stderr)) return undefined;
    throw new ShoalError('SHOAL_ERR_NFT', `nft -a list table ${family} ${name} failed: ${firstLines(result.stderr, 6)}`, {
      details: { netns: this.netns },
    });
  }

  async #run(call: NftCall, okExitCodes?: number[]): Promise<ExecResult> {
    const options = {
      ...(okExitCodes ? { okExitCodes } : {}),
      ...(this.#timeoutMs === undefined ? {} : { timeoutMs: this.#timeoutMs }),
    };
    if (this.backend === 'library') return await runNftLibrary(this.netns, call, options);
    if (!call.json || call.script === undefined) {
      return await execInNetns(this.netns, 'nft', nftCallArgs(call), {
        ...options,
        ...(call.script === undefined ? {} : { input: call.script }),
      });
    }
    // nft's JSON parser opens the -f path itself, and /dev/stdin cannot be opened when
    // stdin is a socket, as Node's child stdio is (ENXIO): hand it a private file instead.
    const dir = await mkdtemp(join(tmpdir(), 'shoal-nft-'));
    try {
      const file = join(dir, 'tx.json');
      await writeFile(file, call.script, { mode: 0o600 });
      return await execInNetns(this.netns, 'nft', nftCallArgs(call, file), options);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ShoalError('SHOAL_ERR_NFT', `nft printed JSON that does not parse: ${(err as Error).message}`, { cause: err });
  }
}

/** The real nftables of network namespace `netns` ('' = the one this process runs in). */
export function createNft(netns: string, options: NftOptions = {}): KernelNftHandle {
  return new KernelNft(netns, options);
}

// ---------------------------------------------------------------------------------------
// Canonical form of a table dump.

/** One rule's text as nft prints it, reduced to what a transaction wrote: single spaces,
 * no counter values, no handle comment. */
export function normalizeRuleText(text: string): string {
  return text
    .replace(/\s+#\s*handle\s+\d+\s*$/, '')
    .replace(/\bcounter packets \d+ bytes \d+/g, 'counter')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Returns a copy of a table's JSON objects in which each rule carries `text`: its printed
 * form from `nft -a list table` (matched by handle). Rules whose handle is not in the
 * text keep only their JSON.
 */
export function withRuleText(json: readonly unknown[], listing: string): unknown[] {
  const byHandle = new Map<number, string>();
  for (const line of listing.split('\n')) {
    const m = /^\s*(.*?)\s+# handle (\d+)\s*$/.exec(line);
    if (!m || m[1]!.endsWith('{')) continue; // table/chain/set headers end with '{'
    byHandle.set(Number(m[2]), normalizeRuleText(m[1]!));
  }
  return json.map((o) => {
    const rule = (o as { rule?: Record<string, unknown> }).rule;
    if (!rule || typeof rule['handle'] !== 'number') return o;
    const text = byHandle.get(rule['handle']);
    return text === undefined ? o : { rule: { ...rule, text } };
  });
}

/** Text of one JSON value of a set element or map data (nft's printed form). */
export function nftValueText(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(nftValueText).join(' . ');
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if ('concat' in o) return (o['concat'] as unknown[]).map(nftValueText).join(' . ');
    if ('prefix' in o) {
      const p = o['prefix'] as { addr: unknown; len: unknown };
      return `${nftValueText(p.addr)}/${String(p.len)}`;
    }
    if ('range' in o) {
      const [a, b] = o['range'] as [unknown, unknown];
      return `${nftValueText(a)}-${nftValueText(b)}`;
    }
    if ('elem' in o) return nftValueText((o['elem'] as { val: unknown }).val);
    for (const verdict of ['jump', 'goto']) {
      if (verdict in o) return `${verdict} ${String((o[verdict] as { target: unknown }).target)}`;
    }
    for (const verdict of ['accept', 'drop', 'continue', 'return']) if (verdict in o) return verdict;
  }
  return JSON.stringify(v);
}

function typeText(t: unknown): string {
  return Array.isArray(t) ? t.map(String).join(' . ') : String(t);
}

/**
 * The canonical text of one table's JSON objects (from `nft -j list table`, with or
 * without metainfo, or FakeNft's listTable): a `table` line, then chains sorted by name,
 * each followed by its rules in order, then sets and maps sorted by name, each followed
 * by its elements sorted. Handles and counter values are left out. A rule shows its
 * `text` (FakeNft's, or the real one's after withRuleText); a rule without text shows its
 * expression JSON, which will not match a fake's text: call withRuleText first.
 *
 *   table inet shoal
 *   chain inet shoal prerouting type nat hook prerouting prio -100 policy accept
 *     rule ip daddr . meta l4proto . th dport vmap @services
 *   map inet shoal services type ipv4_addr . inet_proto . inet_service : verdict
 *     element 10.0.0.2 . tcp . 80 : goto svc-1
 */
export function canonicalNftTable(json: readonly unknown[]): string {
  let tableLine = '';
  const chains = new Map<string, { line: string; rules: string[] }>();
  const sets: Array<{ name: string; lines: string[] }> = [];
  const rules: Array<{ chain: string; text: string }> = [];
  for (const o of json) {
    if (typeof o !== 'object' || o === null) continue;
    const [kind, body] = Object.entries(o as Record<string, Record<string, unknown>>)[0] ?? [];
    if (kind === undefined || body === undefined) continue;
    switch (kind) {
      case 'table':
        tableLine = `table ${String(body['family'])} ${String(body['name'])}`;
        break;
      case 'chain': {
        const parts = [`chain ${String(body['family'])} ${String(body['table'])} ${String(body['name'])}`];
        if (body['hook'] !== undefined) {
          parts.push(
            `type ${String(body['type'])} hook ${String(body['hook'])} prio ${String(body['prio'])} policy ${String(body['policy'] ?? 'accept')}`,
          );
        }
        chains.set(String(body['name']), { line: parts.join(' '), rules: [] });
        break;
      }
      case 'set':
      case 'map': {
        const head = [`${kind} ${String(body['family'])} ${String(body['table'])} ${String(body['name'])} type ${typeText(body['type'])}`];
        if (kind === 'map') head.push(`: ${typeText(body['map'])}`);
        const flags = Array.isArray(body['flags']) ? [...(body['flags'] as unknown[])].map(String).sort() : [];
        if (flags.length > 0) head.push(`flags ${flags.join(',')}`);
        const elems = (Array.isArray(body['elem']) ? (body['elem'] as unknown[]) : []).map((e) =>
          kind === 'map' && Array.isArray(e) ? `  element ${nftValueText(e[0])} : ${nftValueText(e[1])}` : `  element ${nftValueText(e)}`,
        );
        sets.push({ name: String(body['name']), lines: [head.join(' '), ...elems.sort()] });
        break;
      }
      case 'rule': {
        const text = typeof body['text'] === 'string' ? normalizeRuleText(body['text']) : `expr ${JSON.stringify(body['expr'])}`;
        const comment =
          typeof body['text'] !== 'string' && typeof body['comment'] === 'string' ? ` comment ${JSON.stringify(body['comment'])}` : '';
        rules.push({ chain: String(body['chain']), text: text + comment });
        break;
      }
      default:
        break; // metainfo and objects shoal does not create
    }
  }
  for (const r of rules) chains.get(r.chain)?.rules.push(`  rule ${r.text}`);
  const lines = [tableLine];
  for (const name of [...chains.keys()].sort()) {
    const c = chains.get(name)!;
    lines.push(c.line, ...c.rules);
  }
  // One push per line: a spread of a set's 250,000 element lines overflows the call stack.
  for (const s of sets.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) for (const l of s.lines) lines.push(l);
  return lines.join('\n');
}
