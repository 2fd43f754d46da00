/**
 * Overlay error codes. Codes are API (CLI output, gRPC details, docs): never renamed or
 * reused. Kernel failures keep the kernel layer's codes (SHOAL_ERR_NETLINK, ...); these
 * are for what only the overlay can say: a model it cannot plan, and endpoint records
 * that do not decode.
 */
import { defineErrorCodes } from '../common/errors.ts';

export const OVERLAY_ERRORS = defineErrorCodes('Overlay', {
  SHOAL_ERR_OVERLAY_BAD_MODEL: [
    'invalid',
    'a network, sandbox or remote endpoint of the overlay model with a value that cannot be programmed (that item is left out)',
  ],
  SHOAL_ERR_OVERLAY_CONFLICT: [
    'precondition',
    'two items of the overlay model claim the same kernel object (a VXLAN ID, a namespace name, an address); the later one is left out',
  ],
  SHOAL_ERR_OVERLAY_BAD_RECORD: ['invalid', 'endpoint record bytes that are not a valid EndpointRecord (proto/endpoint.proto)'],
});

export type OverlayErrorCode = (typeof OVERLAY_ERRORS.codes)[number];

/** Builds an error with one of the Overlay codes. */
export const overlayError = OVERLAY_ERRORS.error;
