/**
 * Deletes connection-tracking entries in one network namespace, through one of two
 * backends that delete the same entries and report the same counts and errors:
 * - `netlink`: ctnetlink inside this process (ctnetlink.ts): dump, match, delete, no
 *   process start; the default when the native addon loads and a NETLINK_NETFILTER socket
 *   opens;
 * - `exec`: the `conntrack` tool (conntrack-tools 1.4.7), entered with nsenter (exec.ts;
 *   ctnetlink is per namespace, so it runs inside it); forced with SHOAL_CONNTRACK=exec.
 *
 * Why: conntrack keeps an established flow on the backend it was NATed to when the
 * load-balancer maps change (PLATFORM.md), so when a backend goes away its flows are
 * deleted by reply source (the backend), and when a VIP goes away by original destination.
 *
 * The tool path runs one process per call: `conntrack -D -d ADDR [-p PROTO [--dport N]]` or
 * `conntrack -D --reply-src ADDR [-p PROTO [--reply-port-src N]] [-d ORIGDST]` (the tool
 * ANDs its filters: with -d, the reply source and the original destination both match).
 * The tool infers the family from the address, prints each deleted entry on stdout and
 * "N flow entries have been deleted." on stderr, and exits 1 when it deleted none (a
 * result, not an error). A port needs a protocol: the tool cannot match ports otherwise.
 *
 * deleteMatching (a batch) is one dump over ctnetlink; the tool path runs the deletions
 * one after another, in order, which deletes the same entries.
 */
import { ShoalError } from '../common/errors.ts';
import { ipToBytes } from '../common/ip.ts';
import { type ConntrackBackend, conntrackBackend, type CtMatch, ctnetlinkDeleteMatching, IPPROTO } from './ctnetlink.ts';
import { type ExecResult, execInNetns, firstLines } from './exec.ts';
import type { Conntrack, ConntrackDeletion, ConntrackFilter } from './types.ts';
import { validateIp } from './validate.ts';

export type ConntrackDeleteFilter = ConntrackFilter & {
  port?: number;
  /** Reply-source deletes only: the entry's original destination must be this address too. */
  origDst?: string;
  /**
   * Reply-source deletes only: the entry never saw a reply (the tool's [UNREPLIED]: a
   * connection attempt or datagrams nothing answered).
   */
  unreplied?: boolean;
};

export interface ConntrackOptions {
  /** Milliseconds before a `conntrack` run is killed; over ctnetlink, the limit for the
   * dump and for each delete request. Default exec.ts's DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number;
  /** `netlink` or `exec`; default: SHOAL_CONNTRACK, else ctnetlink when it works (conntrackBackend()). */
  backend?: ConntrackBackend;
}

export type KernelConntrackHandle = Conntrack & { readonly netns: string; readonly backend: ConntrackBackend };

/** Checks an address and filter; returns the address family. Shared with FakeConntrack. */
export function validateConntrackFilter(
  address: string,
  filter: ConntrackDeleteFilter,
  direction: 'orig-dst' | 'reply-src' = 'reply-src',
): 4 | 6 {
  const family = validateIp(address);
  if (filter.origDst !== undefined) {
    if (direction !== 'reply-src') {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', 'an original-destination filter narrows reply-source deletes only', {
        details: { address, origDst: filter.origDst },
      });
    }
    if (validateIp(filter.origDst) !== family) {
      throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `conntrack filter mixes IPv4 and IPv6 (${address}, ${filter.origDst})`, {
        details: { address, origDst: filter.origDst },
      });
    }
  }
  if (filter.unreplied && direction !== 'reply-src') {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', 'an unreplied filter narrows reply-source deletes only', {
      details: { address },
    });
  }
  if (filter.family !== undefined && filter.family !== family) {
    throw new ShoalError('SHOAL_ERR_BAD_ADDRESS', `address ${address} is not IPv${filter.family}`, {
      details: { address, family: filter.family },
    });
  }
  if (filter.protocol !== undefined && filter.protocol !== 'tcp' && filter.protocol !== 'udp') {
    throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `conntrack protocol ${JSON.stringify(filter.protocol)} must be tcp or udp`);
  }
  if (filter.port !== undefined) {
    if (!Number.isInteger(filter.port) || filter.port < 1 || filter.port > 65535) {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `conntrack port ${filter.port} is out of range 1-65535`, {
        details: { port: filter.port },
      });
    }
    if (filter.protocol === undefined) {
      throw new ShoalError('SHOAL_ERR_INVALID_ARGUMENT', `a conntrack port filter needs a protocol (tcp or udp)`, {
        details: { address, port: filter.port },
      });
    }
  }
  return family;
}

/** The arguments of one delete. */
export function conntrackDeleteArgs(direction: 'orig-dst' | 'reply-src', address: string, filter: ConntrackDeleteFilter): string[] {
  const args = ['-D', direction === 'orig-dst' ? '-d' : '--reply-src', address];
  if (filter.protocol !== undefined) args.push('-p', filter.protocol);
  if (filter.port !== undefined) args.push(direction === 'orig-dst' ? '--dport' : '--reply-port-src', String(filter.port));
  if (filter.origDst !== undefined) args.push('-d', filter.origDst);
  return args;
}

/** Reads "N flow entries have been deleted." from the tool's stderr; undefined if absent. */
export function parseDeletedCount(stderr: string): number | undefined {
  const m = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

class KernelConntrack implements KernelConntrackHandle {
  readonly netns: string;
  readonly backend: ConntrackBackend;
  readonly #timeoutMs: number | undefined;

  constructor(netns: string, options: ConntrackOptions) {
    this.netns = netns;
    this.backend = conntrackBackend(options.backend);
    this.#timeoutMs = options.timeoutMs;
  }

  async deleteByOrigDst(address: string, filter: ConntrackDeleteFilter = {}): Promise<number> {
    return (await this.deleteMatching([{ direction: 'orig-dst', address, filter }]))[0]!;
  }

  async deleteByReplySrc(address: string, filter: ConntrackDeleteFilter = {}): Promise<number> {
    return (await this.deleteMatching([{ direction: 'reply-src', address, filter }]))[0]!;
  }

  async deleteMatching(deletions: readonly ConntrackDeletion[]): Promise<number[]> {
    const checked = deletions.map((d) => {
      const filter: ConntrackDeleteFilter = d.filter ?? {};
      return { d, filter, family: validateConntrackFilter(d.address, filter, d.direction) };
    });
    if (this.backend === 'exec') {
      const counts: number[] = [];
      for (const { d, filter } of checked) counts.push(await this.#execDelete(d.direction, d.address, filter));
      return counts;
    }
    const counts = deletions.map(() => 0);
    for (const family of [4, 6] as const) {
      const indexes = checked.flatMap((c, i) => (c.family === family ? [i] : []));
      if (indexes.length === 0) continue;
      const args = indexes.map((i) => conntrackDeleteArgs(checked[i]!.d.direction, checked[i]!.d.address, checked[i]!.filter));
      const command = `conntrack ${args[0]!.join(' ')}${args.length > 1 ? ` (and ${args.length - 1} more filters in the same pass)` : ''}`;
      const r = await ctnetlinkDeleteMatching(
        this.netns,
        family,
        indexes.map((i) => ctMatchOf(checked[i]!.d.direction, checked[i]!.d.address, checked[i]!.filter)),
        { command, ...(this.#timeoutMs === undefined ? {} : { timeoutMs: this.#timeoutMs }) },
      );
      indexes.forEach((i, k) => {
        counts[i] = r.deleted[k]!;
      });
    }
    return counts;
  }

  async #execDelete(direction: 'orig-dst' | 'reply-src', address: string, filter: ConntrackDeleteFilter): Promise<number> {
    if (filter.unreplied) return this.#execDeleteUnreplied(address, filter);
    const args = conntrackDeleteArgs(direction, address, filter);
    const result = await this.#execTool(args);
    const count = parseDeletedCount(result.stderr);
    // Exit 1 is "nothing deleted" only when the tool says so; otherwise it failed.
    if (count === undefined || (result.code === 1 && count !== 0)) {
      throw new ShoalError(
        'SHOAL_ERR_CONNTRACK',
        `conntrack ${args.join(' ')} exited ${result.code}: ${firstLines(result.stderr) || 'no output'}`,
        {
          details: { netns: this.netns, args, exitCode: result.code, stderr: firstLines(result.stderr) },
        },
      );
    }
    return count;
  }

  /**
   * The tool cannot select entries that saw no reply (its --status takes set bits only), so
   * the unreplied ones are listed with the other filters, picked by their [UNREPLIED] mark,
   * and deleted one by one by their exact original tuple.
   */
  async #execDeleteUnreplied(address: string, filter: ConntrackDeleteFilter): Promise<number> {
    const { unreplied: _, ...rest } = filter;
    const args = ['-L', ...conntrackDeleteArgs('reply-src', address, rest).slice(1)];
    const listed = await this.#execTool(args);
    let deleted = 0;
    for (const tuple of unrepliedTuples(listed.stdout)) {
      const del = ['-D', '-p', tuple.protocol, '-s', tuple.src, '-d', tuple.dst, '--sport', tuple.sport, '--dport', tuple.dport];
      const r = await this.#execTool(del);
      deleted += parseDeletedCount(r.stderr) ?? 0;
    }
    return deleted;
  }

  /** Runs the tool; exit 1 with a count on stderr is "nothing matched", anything else a failure. */
  async #execTool(args: string[]): Promise<ExecResult> {
    let result;
    try {
      result = await execInNetns(this.netns, 'conntrack', args, {
        okExitCodes: [1],
        ...(this.#timeoutMs === undefined ? {} : { timeoutMs: this.#timeoutMs }),
      });
    } catch (err) {
      if (err instanceof ShoalError && err.code === 'SHOAL_ERR_COMMAND_FAILED') {
        const stderr = String(err.details['stderr'] ?? '');
        throw new ShoalError('SHOAL_ERR_CONNTRACK', `conntrack ${args.join(' ')} failed: ${firstLines(stderr) || err.message}`, {
          cause: err,
          details: { netns: this.netns, args, exitCode: err.details['exitCode'], stderr: firstLines(stderr) },
        });
      }
      throw err;
    }
    if (result.code === 1 && parseDeletedCount(result.stderr) === undefined && !/flow entries have been shown/.test(result.stderr)) {
      throw new ShoalError('SHOAL_ERR_CONNTRACK', `conntrack ${args.join(' ')} exited 1: ${firstLines(result.stderr) || 'no output'}`, {
        details: { netns: this.netns, args, exitCode: result.code, stderr: firstLines(result.stderr) },
      });
    }
    return result;
  }
}

/** The original tuples of the TCP and UDP entries a `conntrack -L` listing marks [UNREPLIED]. */
export function unrepliedTuples(listing: string): Array<{ protocol: string; src: string; dst: string; sport: string; dport: string }> {
  const out: Array<{ protocol: string; src: string; dst: string; sport: string; dport: string }> = [];
  for (const line of listing.split('\n')) {
    const protocol = /^(tcp|udp)\s/.exec(line)?.[1];
    const cut = line.indexOf('[UNREPLIED]');
    if (!protocol || cut < 0) continue;
    const orig = line.slice(0, cut);
    const field = (k: string): string | undefined => new RegExp(`\\b${k}=(\\S+)`).exec(orig)?.[1];
    const [src, dst, sport, dport] = [field('src'), field('dst'), field('sport'), field('dport')];
    if (src && dst && sport && dport) out.push({ protocol, src, dst, sport, dport });
  }
  return out;
}

/** A validated filter as ctnetlink matches it. */
function ctMatchOf(direction: 'orig-dst' | 'reply-src', address: string, filter: ConntrackDeleteFilter): CtMatch {
  return {
    direction,
    address: ipToBytes(address),
    ...(filter.protocol === undefined ? {} : { protocol: IPPROTO[filter.protocol] }),
    ...(filter.port === undefined ? {} : { port: filter.port }),
    ...(filter.origDst === undefined ? {} : { origDst: ipToBytes(filter.origDst) }),
    ...(filter.unreplied ? { unreplied: true } : {}),
  };
}

/** Conntrack of network namespace `netns` ('' = the one this process runs in). */
export function createConntrack(netns: string, options: ConntrackOptions = {}): KernelConntrackHandle {
  return new KernelConntrack(netns, options);
}
