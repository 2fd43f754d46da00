/**
 * The API's error codes and the ONE table that maps errors to gRPC statuses.
 *
 * A manager handler throws a ShoalError with a stable code; the API server turns it into a
 * gRPC status through `grpcStatusOf` (by code when the table names the code, else by the
 * code's category) and sends the code and details as trailing metadata under the keys
 * below. The client (client.ts) turns the status back into a ShoalError with the same code,
 * so the CLI and agents see what the manager threw. Both sides import this module, so the
 * table and the keys cannot drift apart. Codes are listed in docs/errors.md.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { registerErrorCodes, ShoalError } from '../common/errors.ts';
import type { ErrorCategory } from '../common/errors.ts';

export const API_ERROR_CODES = {
  // lookups
  SHOAL_ERR_NETWORK_NOT_FOUND: 'not_found',
  SHOAL_ERR_SERVICE_NOT_FOUND: 'not_found',
  SHOAL_ERR_TASK_NOT_FOUND: 'not_found',
  SHOAL_ERR_NODE_NOT_FOUND: 'not_found',
  SHOAL_ERR_CONTAINER_NOT_FOUND: 'not_found',
  SHOAL_ERR_NOT_CONNECTED: 'not_found',
  SHOAL_ERR_AMBIGUOUS_REF: 'invalid',
  // duplicates
  SHOAL_ERR_NETWORK_EXISTS: 'exists',
  SHOAL_ERR_SERVICE_EXISTS: 'exists',
  SHOAL_ERR_CONTAINER_EXISTS: 'exists',
  SHOAL_ERR_ALREADY_CONNECTED: 'exists',
  SHOAL_ERR_PORT_IN_USE: 'exists',
  // bad input
  SHOAL_ERR_BAD_NAME: 'invalid',
  SHOAL_ERR_BAD_SPEC: 'invalid',
  SHOAL_ERR_BAD_DRIVER: 'invalid',
  SHOAL_ERR_BAD_PORT: 'invalid',
  SHOAL_ERR_DNSRR_INGRESS_PORT: 'invalid',
  SHOAL_ERR_BAD_JOIN_TOKEN: 'invalid',
  // state that forbids the request
  SHOAL_ERR_NETWORK_IN_USE: 'precondition',
  SHOAL_ERR_INGRESS_PROTECTED: 'precondition',
  SHOAL_ERR_NOT_ATTACHABLE: 'precondition',
  SHOAL_ERR_NODE_UP: 'precondition',
  SHOAL_ERR_NODE_IS_MANAGER: 'precondition',
  SHOAL_ERR_LAST_MANAGER: 'precondition',
  SHOAL_ERR_VERSION_CONFLICT: 'precondition',
  SHOAL_ERR_CONTAINER_RUNNING: 'precondition',
  SHOAL_ERR_JOIN_TOKEN_REJECTED: 'precondition',
  SHOAL_ERR_UNAUTHENTICATED: 'precondition',
  SHOAL_ERR_PERMISSION_DENIED: 'precondition',
  SHOAL_ERR_CA_MISMATCH: 'precondition',
  SHOAL_ERR_DATA_DIR_LOCKED: 'precondition',
  // exhaustion
  SHOAL_ERR_PORTS_EXHAUSTED: 'unavailable',
  SHOAL_ERR_VXLAN_EXHAUSTED: 'unavailable',
  // transport and storage
  SHOAL_ERR_MANAGER_UNREACHABLE: 'unavailable',
  SHOAL_ERR_STORE: 'internal',
  SHOAL_ERR_CERTIFICATE: 'internal',
} as const satisfies Record<string, ErrorCategory>;

export type ApiErrorCode = keyof typeof API_ERROR_CODES;

registerErrorCodes(API_ERROR_CODES);

/** Builds a ShoalError with one of the API's codes (typed, so typos do not compile). */
export function apiError(code: ApiErrorCode, message: string, details?: Record<string, unknown>, cause?: unknown): ShoalError {
  return new ShoalError(code, message, { ...(details ? { details } : {}), ...(cause !== undefined ? { cause } : {}) });
}

/**
 * THE mapping from errors to gRPC statuses. Codes listed in `byCode` win; every other code
 * maps through its category.
 */
export const GRPC_STATUS_TABLE = {
  byCategory: {
    invalid: GrpcStatus.INVALID_ARGUMENT,
    not_found: GrpcStatus.NOT_FOUND,
    exists: GrpcStatus.ALREADY_EXISTS,
    precondition: GrpcStatus.FAILED_PRECONDITION,
    unavailable: GrpcStatus.UNAVAILABLE,
    internal: GrpcStatus.INTERNAL,
  } satisfies Record<ErrorCategory, GrpcStatus>,
  byCode: {
    SHOAL_ERR_VERSION_CONFLICT: GrpcStatus.ABORTED,
    SHOAL_ERR_JOIN_TOKEN_REJECTED: GrpcStatus.PERMISSION_DENIED,
    SHOAL_ERR_PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
    SHOAL_ERR_UNAUTHENTICATED: GrpcStatus.UNAUTHENTICATED,
    SHOAL_ERR_PORTS_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
    SHOAL_ERR_VXLAN_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
    SHOAL_ERR_TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  } as Readonly<Record<string, GrpcStatus>>,
} as const;

/** The gRPC status an error is sent with. */
export function grpcStatusOf(err: ShoalError): GrpcStatus {
  return grpcStatusFor(err.code, err.category);
}

/** The gRPC status of a code of the given category (the table's rule: by code, else by category). */
export function grpcStatusFor(code: string, category: ErrorCategory): GrpcStatus {
  return GRPC_STATUS_TABLE.byCode[code] ?? GRPC_STATUS_TABLE.byCategory[category];
}

/** The status's name as gRPC writes it (`FAILED_PRECONDITION`), for docs and messages. */
export function statusNameOf(code: string, category: ErrorCategory): string {
  return GrpcStatus[grpcStatusFor(code, category)];
}

/** Metadata keys carrying the stable code and JSON details next to the status. */
export const ERROR_CODE_METADATA = 'shoal-error-code';
export const ERROR_DETAILS_METADATA = 'shoal-error-details';

/** Generic codes for a status that arrived without a shoal code (transport failures). */
export function codeForBareStatus(code: GrpcStatus): string {
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
      return 'SHOAL_ERR_INVALID_ARGUMENT';
    case GrpcStatus.NOT_FOUND:
      return 'SHOAL_ERR_NOT_FOUND';
    case GrpcStatus.ALREADY_EXISTS:
      return 'SHOAL_ERR_ALREADY_EXISTS';
    case GrpcStatus.FAILED_PRECONDITION:
      return 'SHOAL_ERR_IN_USE';
    case GrpcStatus.UNAVAILABLE:
      return 'SHOAL_ERR_MANAGER_UNREACHABLE';
    case GrpcStatus.DEADLINE_EXCEEDED:
      return 'SHOAL_ERR_TIMEOUT';
    case GrpcStatus.UNAUTHENTICATED:
      return 'SHOAL_ERR_UNAUTHENTICATED';
    case GrpcStatus.PERMISSION_DENIED:
      return 'SHOAL_ERR_PERMISSION_DENIED';
    case GrpcStatus.CANCELLED:
      return 'SHOAL_ERR_CLOSED';
    default:
      return 'SHOAL_ERR_INTERNAL';
  }
}
