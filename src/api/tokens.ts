/**
 * Join tokens in Docker's shape: `SWMTKN-1-<CA digest>-<secret>`.
 *
 * The digest (50 base-36 characters, see certificates.ts) lets a joining node check the
 * manager's CA before it trusts anything the manager says; the secret (25 base-36
 * characters, about 129 bits) is what admits it, and says which role it joins as. There
 * is one token per role; rotating replaces the secret, and a node presenting the old one
 * is refused. A token made for another cluster fails both checks.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeRole } from './api-types.ts';
import { apiError } from './errors.ts';

export const TOKEN_PREFIX = 'SWMTKN';
export const TOKEN_VERSION = '1';
const SECRET_LENGTH = 25;
const TOKEN_RE = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/;

export interface ParsedJoinToken {
  digest: string;
  secret: string;
}

/** A new token for the CA with this digest. */
export function generateJoinToken(digest: string): string {
  let secret = '';
  while (secret.length < SECRET_LENGTH) {
    for (const byte of randomBytes(SECRET_LENGTH * 2)) {
      // 252 = 7 * 36: rejection keeps the 36 symbols equally likely
      if (byte < 252 && secret.length < SECRET_LENGTH) secret += (byte % 36).toString(36);
    }
  }
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${digest}-${secret}`;
}

/** Parses a token; a malformed one is SHOAL_ERR_BAD_JOIN_TOKEN. */
export function parseJoinToken(token: string): ParsedJoinToken {
  const m = TOKEN_RE.exec(typeof token === 'string' ? token.trim() : '');
  if (!m) {
    throw apiError('SHOAL_ERR_BAD_JOIN_TOKEN', 'invalid join token: expected SWMTKN-1-<50 base-36 characters>-<25 base-36 characters>');
  }
  return { digest: m[1]!, secret: m[2]! };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The role a presented token admits, or a refusal: SHOAL_ERR_BAD_JOIN_TOKEN when it is not
 * a token, SHOAL_ERR_JOIN_TOKEN_REJECTED when it is not one of this cluster's current ones.
 */
export function roleForToken(token: string, current: { worker: string; manager: string }): NodeRole {
  const presented = parseJoinToken(token);
  const worker = parseJoinToken(current.worker);
  if (!same(presented.digest, worker.digest)) {
    throw apiError(
      'SHOAL_ERR_JOIN_TOKEN_REJECTED',
      "the join token is for a different cluster (its CA digest does not match this cluster's CA)",
    );
  }
  if (same(presented.secret, worker.secret)) return 'worker';
  if (same(presented.secret, parseJoinToken(current.manager).secret)) return 'manager';
  throw apiError('SHOAL_ERR_JOIN_TOKEN_REJECTED', 'the join token is not valid: it was rotated or never issued by this cluster');
}
