/**
 * The resolver's handler chain: an ordered list of small handlers, each of which answers a
 * request or passes it to the next (CoreDNS's plugin chain, without its registry). The
 * server (the UDP/TCP adapter) decodes a query, builds a DnsRequest and awaits the chain's
 * Resolver; handlers never see sockets, so they are tested by calling them.
 *
 * Protocol:
 * - a Handler gets the request and `next`; it returns (or resolves to) a Response to answer,
 *   or returns `next(req)` (possibly with a changed request, possibly editing what comes
 *   back) to pass it on;
 * - after the last handler comes the chain's `final` handler; by default it answers REFUSED
 *   without recursion available: nothing in this resolver serves the name;
 * - the chain is its own error boundary: a handler that throws or rejects turns into
 *   SERVFAIL for that request alone, reported to `onError` (the server logs it; libraries
 *   do not). The Resolver's promise never rejects, so one bad query cannot bring the server
 *   down.
 */
import { ShoalError } from '../common/errors.ts';
import { emptyResponse, type Query, RCODE, type Response } from './message.ts';

export type DnsTransport = 'udp' | 'tcp';

/** One query as the chain sees it. */
export interface DnsRequest {
  readonly query: Query;
  /** The asking sandbox (what the forwarder picks its upstreams by). */
  readonly sandboxId: string;
  /** The networks of the asking sandbox: the only networks whose names it may resolve. */
  readonly networkIds: readonly string[];
  /** The transport it came on: a UDP answer may be truncated by the encoder, a TCP one not. */
  readonly transport: DnsTransport;
}

/** Passes the request to the rest of the chain. */
export type Next = (req: DnsRequest) => Promise<Response>;

/** Answers, or passes on with `next`. */
export type Handler = (req: DnsRequest, next: Next) => Response | Promise<Response>;

/** The whole chain, ready to serve: never rejects. */
export type Resolver = (req: DnsRequest) => Promise<Response>;

export interface ChainOptions {
  /** What answers when every handler passed. Default: REFUSED (refused()). */
  final?: Handler;
  /** Told of every error the boundary turned into SERVFAIL. Must not throw (if it does, it is ignored). */
  onError?: (err: unknown, req: DnsRequest) => void;
}

/** REFUSED, RA clear: the end of a chain with nothing to forward to. */
export function refused(req: DnsRequest): Response {
  return { ...emptyResponse(req.query, RCODE.REFUSED), ra: false };
}

/** SERVFAIL for `req`: what the error boundary answers. */
export function serverFailure(req: DnsRequest): Response {
  return emptyResponse(req.query, RCODE.SERVFAIL);
}

/** Builds the chain: `handlers` in order, then `final`, inside the error boundary. */
export function createChain(handlers: readonly Handler[], options: ChainOptions = {}): Resolver {
  const list = [...handlers];
  const final: Handler = options.final ?? refused;
  const noNext: Next = async () => {
    throw new ShoalError('SHOAL_ERR_INTERNAL', 'the final handler of a DNS chain called next()');
  };
  const at = (i: number): Next => {
    const handler = i < list.length ? list[i]! : final;
    const next = i < list.length ? at(i + 1) : noNext;
    return async (req) => handler(req, next);
  };
  const first = at(0);
  return async (req) => {
    try {
      return await first(req);
    } catch (err) {
      try {
        options.onError?.(err, req);
      } catch {
        // The boundary must answer even when the reporter fails.
      }
      return serverFailure(req);
    }
  };
}
