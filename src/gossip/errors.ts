/**
 * Gossip error codes. Codes are API (CLI output, gRPC details, docs): never renamed or
 * reused. Malformed or unauthenticated input from the network is never an error thrown to
 * a caller: it is dropped and counted (see GossipStats). These codes are for the callers
 * of the public API (the agent) and for configuration.
 */
import { ShoalError, registerErrorCodes } from '../common/errors.ts';

export const GOSSIP_ERROR_CODES = {
  /** No seed answered a join (unreachable, wrong key, not started). */
  SHOAL_ERR_GOSSIP_JOIN_FAILED: 'unavailable',
  /** A table operation names a network this node has not joined. */
  SHOAL_ERR_GOSSIP_NOT_IN_NETWORK: 'precondition',
  /** A key that is not 32 bytes, or a keyring left without keys. */
  SHOAL_ERR_GOSSIP_BAD_KEY: 'invalid',
  /** Removing the primary key, or using a key that is not installed. */
  SHOAL_ERR_GOSSIP_KEY_IN_USE: 'precondition',
  /** A network, table, key or node name that is empty or too long. */
  SHOAL_ERR_GOSSIP_BAD_NAME: 'invalid',
  /** A table value larger than maxValueBytes. */
  SHOAL_ERR_GOSSIP_VALUE_TOO_LARGE: 'invalid',
  /** The node is not started, or is left / closed. */
  SHOAL_ERR_GOSSIP_NOT_RUNNING: 'precondition',
  /** A socket could not be bound or adopted. */
  SHOAL_ERR_GOSSIP_TRANSPORT: 'unavailable',
  /** A stream exchange failed (refused, reset, timed out, unauthenticated reply). */
  SHOAL_ERR_GOSSIP_STREAM: 'unavailable',
} as const;

export type GossipErrorCode = keyof typeof GOSSIP_ERROR_CODES;

registerErrorCodes(GOSSIP_ERROR_CODES);

export function gossipError(code: GossipErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown): ShoalError {
  return new ShoalError(code, message, cause === undefined ? { details } : { details, cause });
}
