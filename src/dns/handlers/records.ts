/**
 * Answers from the records index (records.ts): A, AAAA and ANY for the names of the asking
 * sandbox's networks, PTR for their task, container and VIP addresses. Every answer it gives
 * is authoritative (AA): the names are the resolver's own.
 *
 * - A name it knows: NOERROR with the addresses of the asked family; none of that family
 *   (AAAA for a name with IPv4 addresses only, or the reverse, or a type it has no records
 *   of, MX, TXT...) is an empty NOERROR, not forwarded: upstream knows nothing of the name.
 * - A name it does not know is passed to the next handler (the forwarder), except in the
 *   namespaces it owns for the sandbox (`tasks.*`, `*.<network name>`): NXDOMAIN there.
 * - A set of tasks (dnsrr names, `tasks.<service>`) is shuffled per answer with the injected
 *   Rng, so clients that take the first address spread over the tasks.
 * - A reverse name of an address it knows: the PTR records; any other reverse name is passed on.
 *
 * Negative answers carry no SOA, so resolvers do not cache them (RFC 2308 section 5): a
 * name that appears a second later is found a second later.
 */
import { ShoalError } from '../../common/errors.ts';
import type { Rng } from '../../common/rng.ts';
import type { Handler } from '../handler.ts';
import { type AnswerReuse, CLASS_IN, emptyResponse, RCODE, RR_TYPE, type ResourceRecord, type Response } from '../message.ts';
import { addressOfReverseName, type RecordIndex } from '../records.ts';

/**
 * TTL of every record answered, in seconds. Short on purpose: the records follow the agent's
 * view, and an answer cached after a task moved or a container was recreated sends clients
 * to an address that is gone (dnsrr and `tasks.` answers change whenever a task does).
 * 5 s bounds that window to about a health-check interval while still absorbing a burst of
 * lookups from a client that caches. Docker answers 600 s, which keeps a stale address for
 * ten minutes in any caching client. A VIP never moves while its service lives, so a longer
 * TTL would only pay off for VIP names; one TTL keeps the rule simple.
 */
export const DEFAULT_RECORD_TTL_SEC = 5;

export interface RecordsHandlerOptions {
  /** The current index, read once per query; the agent swaps it when its view changes. */
  index: () => RecordIndex;
  /** Shuffles sets of tasks; seeded in tests. */
  rng: Rng;
  /** Seconds, integer 0-2147483647 (RFC 2181 8). Default DEFAULT_RECORD_TTL_SEC. */
  ttlSec?: number;
}

/** The handler answering from the index. Throws SHOAL_ERR_INVALID_CONFIG for a bad ttlSec. */
export function recordsHandler(options: RecordsHandlerOptions): Handler {
  const ttl = options.ttlSec ?? DEFAULT_RECORD_TTL_SEC;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) {
    throw new ShoalError('SHOAL_ERR_INVALID_CONFIG', `records handler: ttlSec must be an integer 0-2147483647, got ${ttl}`, {
      details: { ttlSec: ttl },
    });
  }
  const { rng } = options;
  // every answer from the index stays right until the index changes: the server may reuse
  // it, reordering a set of tasks as a fresh answer would be
  const authoritative = (res: Response, answers: ResourceRecord[], reuse: AnswerReuse = 'same'): Response => ({
    ...res,
    aa: true,
    answers,
    reuse,
  });

  return (req, next) => {
    const q = req.query;
    const { name, type } = q.question;
    const index = options.index();

    const reverseOf = addressOfReverseName(name);
    if (reverseOf !== undefined) {
      const names = index.reverse(reverseOf, req.networkIds);
      if (names.length === 0) return next(req);
      const answers: ResourceRecord[] =
        type === RR_TYPE.PTR || type === RR_TYPE.ANY
          ? names.map((target) => ({ name, type: RR_TYPE.PTR, class: CLASS_IN, ttl, data: { kind: 'ptr', name: target } }))
          : [];
      return authoritative(emptyResponse(q), answers);
    }

    const set = index.lookup(name, req.networkIds);
    if (set === undefined) {
      if (index.owns(name, req.networkIds)) return authoritative(emptyResponse(q, RCODE.NXDOMAIN), []);
      return next(req);
    }
    const order = (addresses: readonly string[]): readonly string[] =>
      set.kind === 'tasks' && addresses.length > 1 ? rng.shuffle([...addresses]) : addresses;
    const answers: ResourceRecord[] = [];
    if (type === RR_TYPE.A || type === RR_TYPE.ANY) {
      for (const address of order(set.v4)) answers.push({ name, type: RR_TYPE.A, class: CLASS_IN, ttl, data: { kind: 'a', address } });
    }
    if (type === RR_TYPE.AAAA || type === RR_TYPE.ANY) {
      for (const address of order(set.v6))
        answers.push({ name, type: RR_TYPE.AAAA, class: CLASS_IN, ttl, data: { kind: 'aaaa', address } });
    }
    return authoritative(emptyResponse(q), answers, set.kind === 'tasks' ? 'shuffle' : 'same');
  };
}
