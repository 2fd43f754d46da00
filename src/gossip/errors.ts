/**
 * Gossip error codes. Codes are API (CLI output, gRPC details, docs): never renamed or
 * reused. Malformed or unauthenticated input from the network is never an error thrown to
 * a caller: it is dropped and counted (see GossipStats). These codes are for the callers
 * of the public API (the agent) and for configuration.
 */
import { defineErrorCodes } from '../common/errors.ts';

export const GOSSIP_ERRORS = defineErrorCodes('Gossip', {
  SHOAL_ERR_GOSSIP_JOIN_FAILED: ['unavailable', 'no seed answered a join (unreachable, wrong key, not started)'],
  SHOAL_ERR_GOSSIP_NOT_IN_NETWORK: ['precondition', 'a table operation names a network this node has not joined'],
  SHOAL_ERR_GOSSIP_BAD_KEY: ['invalid', 'a key that is not 32 bytes, or a keyring left without keys'],
  SHOAL_ERR_GOSSIP_KEY_IN_USE: ['precondition', 'removing the primary key, or using a key that is not installed'],
  SHOAL_ERR_GOSSIP_BAD_NAME: ['invalid', 'a network, table, key or node name that is empty or too long'],
  SHOAL_ERR_GOSSIP_VALUE_TOO_LARGE: ['invalid', 'a table value larger than maxValueBytes'],
  SHOAL_ERR_GOSSIP_NOT_RUNNING: ['precondition', 'the node is not started, or is left / closed'],
  SHOAL_ERR_GOSSIP_TRANSPORT: ['unavailable', 'a socket could not be bound or adopted'],
  SHOAL_ERR_GOSSIP_STREAM: ['unavailable', 'a stream exchange failed (refused, reset, timed out, unauthenticated reply)'],
});

export type GossipErrorCode = (typeof GOSSIP_ERRORS.codes)[number];

/** Builds an error with one of the Gossip codes. */
export const gossipError = GOSSIP_ERRORS.error;
