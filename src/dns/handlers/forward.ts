/**
 * Forwards what no earlier handler answered to the sandbox's upstream resolvers (its
 * service's `--dns` servers, else the host's, up to three), tried in turn, each within a
 * timeout, the whole within a budget: SERVFAIL promptly when every one failed, never
 * silence (Docker's resolver lets the client time out). The upstream's answer is relayed
 * as it came (its rcode, its records), with the client's id.
 *
 * - A sandbox with no upstream (only internal networks: they have no way out; or none
 *   configured) gets REFUSED at once: nothing is forwarded from an internal network.
 * - An upstream that answers SERVFAIL or REFUSED is treated as failed and the next one is
 *   tried; NXDOMAIN and NOERROR are answers.
 * - In-flight forwards are bounded (maxInFlight): beyond the bound a query gets SERVFAIL at
 *   once and `stats.limited` counts it (a metric, not a silent drop). The bound is high
 *   (Docker's resolver stops at 100, later 1,024, concurrent queries and drops the rest).
 *
 * The Upstream interface hides the sockets (and the namespace they are opened in: a
 * sandbox's queries leave through the sandbox's own network path), so this is tested with
 * fake upstreams and a fake clock.
 */
import type { Clock } from '../../common/clock.ts';
import type { DnsRequest, DnsTransport, Handler } from '../handler.ts';
import { emptyResponse, type Query, RCODE, type Response } from '../message.ts';

/** One upstream resolver. */
export interface Upstream {
  /** How logs and stats name it: `192.0.2.1:53`. */
  readonly name: string;
  /**
   * Sends the query (over `transport`) and resolves with the upstream's decoded answer;
   * rejects when it cannot (refused, unreachable, a malformed answer). It need not time
   * out by itself: the forwarder stops waiting after its timeout and ignores a late answer.
   */
  exchange(query: Query, transport: DnsTransport): Promise<Response>;
}

export interface ForwardOptions {
  /** The upstreams of the asking sandbox, in the order to try them; empty: do not forward. */
  upstreams: (req: DnsRequest) => readonly Upstream[];
  clock: Clock;
  /** One upstream's time to answer, ms (default 1,500). */
  tryTimeoutMs?: number;
  /** All tries of one query, ms (default 4,000: SERVFAIL well within 5 s). */
  budgetMs?: number;
  /** Forwards in flight at once, over every sandbox (default 4,096). */
  maxInFlight?: number;
  /** Told of each failed try (for the server's log and metrics). Must not throw. */
  onTryFailed?: (upstream: string, reason: string) => void;
}

export interface ForwardStats {
  forwarded: number;
  answered: number;
  /** Queries answered SERVFAIL because every upstream failed or the budget ran out. */
  failed: number;
  /** Queries answered REFUSED: no upstream for the sandbox. */
  refused: number;
  /** Queries answered SERVFAIL because maxInFlight forwards were in flight. */
  limited: number;
  inFlight: number;
  /** The most forwards in flight at once so far. */
  peakInFlight: number;
}

export const DEFAULT_TRY_TIMEOUT_MS = 1_500;
export const DEFAULT_BUDGET_MS = 4_000;
export const DEFAULT_MAX_IN_FLIGHT = 4_096;

const TIMED_OUT = Symbol('timed out');

export function forwardHandler(o: ForwardOptions): { handler: Handler; stats: ForwardStats } {
  const tryTimeoutMs = o.tryTimeoutMs ?? DEFAULT_TRY_TIMEOUT_MS;
  const budgetMs = o.budgetMs ?? DEFAULT_BUDGET_MS;
  const maxInFlight = o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const stats: ForwardStats = { forwarded: 0, answered: 0, failed: 0, refused: 0, limited: 0, inFlight: 0, peakInFlight: 0 };
  const failedTry = (upstream: string, reason: string): void => {
    try {
      o.onTryFailed?.(upstream, reason);
    } catch {
      // a reporter must not change the answer
    }
  };

  /** The upstream's answer, or TIMED_OUT after `ms`; a rejection becomes an Error. */
  const within = async (u: Upstream, q: Query, transport: DnsTransport, ms: number): Promise<Response | typeof TIMED_OUT | Error> => {
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = o.clock.setTimer(ms, () => resolve(TIMED_OUT));
    });
    try {
      return await Promise.race([
        u.exchange(q, transport).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
        timeout,
      ]);
    } finally {
      timer?.cancel();
    }
  };

  const handler: Handler = async (req) => {
    const upstreams = o.upstreams(req).slice(0, 3);
    if (upstreams.length === 0) {
      stats.refused++;
      return { ...emptyResponse(req.query, RCODE.REFUSED), ra: false };
    }
    if (stats.inFlight >= maxInFlight) {
      stats.limited++;
      return emptyResponse(req.query, RCODE.SERVFAIL);
    }
    stats.forwarded++;
    stats.inFlight++;
    if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight;
    try {
      const deadline = o.clock.now() + budgetMs;
      for (const u of upstreams) {
        const left = deadline - o.clock.now();
        if (left <= 0) break;
        const r = await within(u, req.query, req.transport, Math.min(tryTimeoutMs, left));
        if (r === TIMED_OUT) {
          failedTry(u.name, 'timed out');
          continue;
        }
        if (r instanceof Error) {
          failedTry(u.name, r.message);
          continue;
        }
        if (r.rcode === RCODE.SERVFAIL || r.rcode === RCODE.REFUSED) {
          failedTry(u.name, r.rcode === RCODE.SERVFAIL ? 'answered SERVFAIL' : 'answered REFUSED');
          continue;
        }
        stats.answered++;
        // relayed as it came, as an answer to this client's query (EDNS as the client asked)
        const { edns: _upstreamEdns, ...rest } = r;
        return {
          ...rest,
          id: req.query.id,
          rd: req.query.rd,
          ra: true,
          question: req.query.question,
          ...(req.query.edns ? { edns: { udpPayloadSize: 4096, dnssecOk: req.query.edns.dnssecOk } } : {}),
        };
      }
      stats.failed++;
      return emptyResponse(req.query, RCODE.SERVFAIL);
    } finally {
      stats.inFlight--;
    }
  };
  return { handler, stats };
}
