/**
 * The first handler of the chain: turns away what the resolver does not serve before any
 * handler looks at names.
 * - An opcode other than QUERY (NOTIFY, UPDATE, the obsolete IQUERY, STATUS) is NOTIMP
 *   (RFC 1035 4.1.1): the resolver implements standard queries only, and forwarding an
 *   UPDATE to the host's resolvers is not its place.
 * - A class other than IN is REFUSED rather than passed on: the records are IN only, and a
 *   CHAOS query (`version.bind`) forwarded upstream would describe the host's resolver, not
 *   this one. QCLASS ANY (255) is refused too; stub resolvers do not send it.
 */
import type { Handler } from '../handler.ts';
import { CLASS_IN, emptyResponse, OPCODE_QUERY, RCODE } from '../message.ts';

export const checkQuery: Handler = (req, next) => {
  const q = req.query;
  if (q.opcode !== OPCODE_QUERY) return emptyResponse(q, RCODE.NOTIMP);
  if (q.question.class !== CLASS_IN) return { ...emptyResponse(q, RCODE.REFUSED), ra: false };
  return next(req);
};
