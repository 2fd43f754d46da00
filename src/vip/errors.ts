/**
 * Load-balancer error codes. Codes are API (CLI output, gRPC details, docs): never renamed
 * or reused. Kernel failures keep the kernel layer's codes (SHOAL_ERR_NFT,
 * SHOAL_ERR_CONNTRACK); these are for what only the load balancer can say about its model.
 */
import { defineErrorCodes } from '../common/errors.ts';

export const VIP_ERRORS = defineErrorCodes('Service load balancer', {
  SHOAL_ERR_VIP_BAD_MODEL: [
    'invalid',
    'a service, port or backend of the load-balancer model with a value that cannot be programmed (that item is left out), or a table name nft refuses (nothing is programmed)',
  ],
  SHOAL_ERR_VIP_CONFLICT: [
    'precondition',
    'two services of the load-balancer model claim the same port of one VIP (or both have every-port entries on it), or one service the same port twice; the later one (by service id, then port order) loses that port',
  ],
});

export type VipErrorCode = (typeof VIP_ERRORS.codes)[number];

/** Builds an error with one of the load balancer's codes. */
export const vipError = VIP_ERRORS.error;
