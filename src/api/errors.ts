/**
 * The API's error codes and the ONE table that maps errors to gRPC statuses.
 *
 * A manager handler throws a ShoalError with a stable code; the API server turns it into a
 * gRPC status through `grpcStatusOf` (by code when the table names the code, else by the
 * code's category) and sends the code and details as trailing metadata under the keys
 * below. The client's connections (h2-connection.ts, grpc-connection.ts) turn the status
 * back into a ShoalError with the same code through `errorFromStatus`, so the CLI and agents
 * see what the manager threw. Status numbers come from grpc-status.ts, not from grpc-js:
 * this module loads in every CLI command. Both sides import this module, so the
 * table and the keys cannot drift apart. Codes are listed in docs/errors.md.
 */
import { type CommonErrorCode, defineErrorCodes, ShoalError } from '../common/errors.ts';
import type { ErrorCategory } from '../common/errors.ts';
import { GRPC_STATUS, grpcStatusName } from './grpc-status.ts';
import type { GrpcStatus } from './grpc-status.ts';

export const API_ERRORS = defineErrorCodes('API', {
  // lookups
  SHOAL_ERR_NETWORK_NOT_FOUND: ['not_found', 'no network with that ID, name or ID prefix'],
  SHOAL_ERR_SERVICE_NOT_FOUND: ['not_found', 'no such service'],
  SHOAL_ERR_TASK_NOT_FOUND: ['not_found', 'no such task'],
  SHOAL_ERR_NODE_NOT_FOUND: ['not_found', 'no such node'],
  SHOAL_ERR_CONTAINER_NOT_FOUND: ['not_found', 'no such container'],
  SHOAL_ERR_NOT_CONNECTED: ['not_found', '`network disconnect` of a container not on the network'],
  SHOAL_ERR_AMBIGUOUS_REF: ['invalid', 'a name or ID prefix matches several objects'],
  // duplicates
  SHOAL_ERR_NETWORK_EXISTS: ['exists', 'a network with that name exists; a second ingress network'],
  SHOAL_ERR_SERVICE_EXISTS: ['exists', 'a service with that name exists'],
  SHOAL_ERR_CONTAINER_EXISTS: ['exists', 'a container with that name exists'],
  SHOAL_ERR_ALREADY_CONNECTED: ['exists', '`network connect` of a container already on the network'],
  SHOAL_ERR_PORT_IN_USE: ['exists', 'a published port another service holds (per protocol), or given twice'],
  // bad input
  SHOAL_ERR_BAD_NAME: ['invalid', 'a missing or malformed network, service, container or node name'],
  SHOAL_ERR_BAD_SPEC: [
    'invalid',
    'any other malformed spec field (negative replicas, unknown restart condition, network given twice, ingress attached explicitly, renaming a service, changing its mode, ...)',
  ],
  SHOAL_ERR_BAD_DRIVER: ['invalid', 'a network driver other than overlay'],
  SHOAL_ERR_BAD_PORT: ['invalid', 'a port out of 1-65535, an unknown protocol or publish mode'],
  SHOAL_ERR_DNSRR_INGRESS_PORT: ['invalid', 'endpoint mode dnsrr with an ingress-mode published port'],
  SHOAL_ERR_BAD_JOIN_TOKEN: ['invalid', 'a join token that is not `SWMTKN-1-<50>-<25>`'],
  SHOAL_ERR_CSR_INVALID: [
    'invalid',
    'a join or renewal without a PKCS#10 certificate signing request, or one that is malformed or not ECDSA P-256 with SHA-256',
  ],
  SHOAL_ERR_CSR_SIGNATURE: [
    'invalid',
    'a certificate signing request whose signature does not verify against the key it carries (tampered, or signed by another key)',
  ],
  SHOAL_ERR_CSR_KEY_MISMATCH: ['invalid', 'a join whose certificate signing request is for another key than the public key sent with it'],
  SHOAL_ERR_BAD_CA: [
    'invalid',
    '`swarm ca --rotate --ca-cert/--ca-key`: not a PEM CA certificate and matching key, not a CA, expired, or only one of the two given',
  ],
  // state that forbids the request
  SHOAL_ERR_NETWORK_IN_USE: ['precondition', 'removing a network that services or endpoints use'],
  SHOAL_ERR_INGRESS_PROTECTED: ['precondition', 'removing the ingress network'],
  SHOAL_ERR_NOT_ATTACHABLE: ['precondition', 'attaching a container to a network without `--attachable`, or to ingress'],
  SHOAL_ERR_NODE_UP: ['precondition', 'removing a node that is not down, without force'],
  SHOAL_ERR_NODE_IS_MANAGER: ['precondition', "removing a manager without force, or the manager's own node"],
  SHOAL_ERR_LAST_MANAGER: ['precondition', "demoting the last manager or the manager's own node"],
  SHOAL_ERR_VERSION_CONFLICT: ['precondition', 'an update made against an older version of the object'],
  SHOAL_ERR_CONTAINER_RUNNING: ['precondition', 'removing a running container without force'],
  SHOAL_ERR_JOIN_TOKEN_REJECTED: [
    'precondition',
    "a well-formed token that is not this cluster's current one (rotated away, or another cluster's)",
  ],
  SHOAL_ERR_UNAUTHENTICATED: ['precondition', 'a TCP call without a certificate of this cluster, or from a removed node'],
  SHOAL_ERR_PERMISSION_DENIED: ['precondition', 'an administration call with a worker certificate'],
  SHOAL_ERR_CA_MISMATCH: ['precondition', "(agent) the manager's CA does not match the join token's digest"],
  SHOAL_ERR_DATA_DIR_LOCKED: ['precondition', 'another manager process uses the data directory'],
  SHOAL_ERR_NETWORK_NOT_ASSIGNED: [
    'precondition',
    'watching the endpoints of a network the calling node has no task, container or endpoint on',
  ],
  SHOAL_ERR_NOT_RUNNING: ['precondition', '`exec` into a task or container that is not running'],
  SHOAL_ERR_CA_ROTATION_IN_PROGRESS: ['precondition', '`swarm ca --rotate` while a root CA rotation has not completed'],
  SHOAL_ERR_UNSUPPORTED: ['precondition', '(agent) a request the agent does not handle (exec or logs where it runs no tasks)'],
  // exhaustion
  SHOAL_ERR_PORTS_EXHAUSTED: ['unavailable', 'no free port left in 30000-32767'],
  SHOAL_ERR_VXLAN_EXHAUSTED: ['unavailable', 'no free VXLAN ID left'],
  // the node's agent
  SHOAL_ERR_AGENT_UNAVAILABLE: [
    'unavailable',
    '`exec`, logs or `doctor` of a node that is down, or whose agent has no session with the manager or lost it before answering',
  ],
  // transport and storage
  SHOAL_ERR_MANAGER_UNREACHABLE: ['unavailable', '(client) nothing answers at the manager address'],
  SHOAL_ERR_STORE: ['internal', 'the store file cannot be opened, read or written'],
  SHOAL_ERR_CERTIFICATE: ['internal', 'a certificate or key cannot be read or does not verify'],
});

export type ApiErrorCode = (typeof API_ERRORS.codes)[number];

/** Builds a ShoalError with one of the API's codes (typed, so typos do not compile). */
export const apiError = API_ERRORS.error;

/**
 * THE mapping from errors to gRPC statuses. Codes listed in `byCode` win; every other code
 * maps through its category.
 */
export const GRPC_STATUS_TABLE = {
  byCategory: {
    invalid: GRPC_STATUS.INVALID_ARGUMENT,
    not_found: GRPC_STATUS.NOT_FOUND,
    exists: GRPC_STATUS.ALREADY_EXISTS,
    precondition: GRPC_STATUS.FAILED_PRECONDITION,
    unavailable: GRPC_STATUS.UNAVAILABLE,
    internal: GRPC_STATUS.INTERNAL,
  } satisfies Record<ErrorCategory, GrpcStatus>,
  byCode: {
    SHOAL_ERR_VERSION_CONFLICT: GRPC_STATUS.ABORTED,
    SHOAL_ERR_JOIN_TOKEN_REJECTED: GRPC_STATUS.PERMISSION_DENIED,
    SHOAL_ERR_PERMISSION_DENIED: GRPC_STATUS.PERMISSION_DENIED,
    SHOAL_ERR_NETWORK_NOT_ASSIGNED: GRPC_STATUS.PERMISSION_DENIED,
    SHOAL_ERR_UNAUTHENTICATED: GRPC_STATUS.UNAUTHENTICATED,
    SHOAL_ERR_PORTS_EXHAUSTED: GRPC_STATUS.RESOURCE_EXHAUSTED,
    SHOAL_ERR_VXLAN_EXHAUSTED: GRPC_STATUS.RESOURCE_EXHAUSTED,
    SHOAL_ERR_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
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
  return grpcStatusName(grpcStatusFor(code, category));
}

/** Metadata keys carrying the stable code and JSON details next to the status. */
export const ERROR_CODE_METADATA = 'shoal-error-code';
export const ERROR_DETAILS_METADATA = 'shoal-error-details';

/** Generic codes for a status that arrived without a shoal code (transport failures). */
export function codeForBareStatus(code: number): CommonErrorCode | ApiErrorCode {
  switch (code) {
    case GRPC_STATUS.INVALID_ARGUMENT:
      return 'SHOAL_ERR_INVALID_ARGUMENT';
    case GRPC_STATUS.NOT_FOUND:
      return 'SHOAL_ERR_NOT_FOUND';
    case GRPC_STATUS.ALREADY_EXISTS:
      return 'SHOAL_ERR_ALREADY_EXISTS';
    case GRPC_STATUS.FAILED_PRECONDITION:
      return 'SHOAL_ERR_IN_USE';
    case GRPC_STATUS.UNAVAILABLE:
      return 'SHOAL_ERR_MANAGER_UNREACHABLE';
    case GRPC_STATUS.DEADLINE_EXCEEDED:
      return 'SHOAL_ERR_TIMEOUT';
    case GRPC_STATUS.UNAUTHENTICATED:
      return 'SHOAL_ERR_UNAUTHENTICATED';
    case GRPC_STATUS.PERMISSION_DENIED:
      return 'SHOAL_ERR_PERMISSION_DENIED';
    case GRPC_STATUS.CANCELLED:
      return 'SHOAL_ERR_CLOSED';
    default:
      return 'SHOAL_ERR_INTERNAL';
  }
}

/** An error for a status that arrived without a shoal code, with the generic code for it. */
export function errorForBareStatus(status: number, message: string, cause?: unknown): ShoalError {
  const code = codeForBareStatus(status);
  return API_ERRORS.has(code)
    ? apiError(code, message, undefined, cause)
    : new ShoalError(code, message, cause === undefined ? {} : { cause });
}

/** A failed call's status as it arrived: what a connection hands to `errorFromStatus`. */
export interface ReceivedStatus {
  /** The gRPC status number (never OK here). */
  readonly status: number;
  /** The status message (grpc-message, percent-decoded), or the transport's own words. */
  readonly message: string;
  /** The ERROR_CODE_METADATA value, when the manager sent one. */
  readonly code?: string | undefined;
  /** The ERROR_DETAILS_METADATA value (JSON), when the manager sent one. */
  readonly details?: string | undefined;
}

/**
 * The ShoalError a failed call means, whichever connection made it: the manager's own code
 * and details when it sent them (kept as sent, even a code this process does not declare:
 * a newer manager's, or one of a module it never loads such as IPAM), else a generic code
 * for the bare status. A bare UNAVAILABLE means nobody answered at `display` (the address
 * the user named) and says so.
 */
export function errorFromStatus(received: ReceivedStatus, display: string, cause?: unknown): ShoalError {
  if (received.code !== undefined && received.code !== '') {
    let details: Record<string, unknown> = {};
    if (received.details !== undefined) {
      try {
        const parsed: unknown = JSON.parse(received.details);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) details = parsed as Record<string, unknown>;
      } catch {
        details = {};
      }
    }
    return ShoalError.remote(received.code, received.message, { details });
  }
  if (received.status === GRPC_STATUS.UNAVAILABLE) {
    return apiError(
      'SHOAL_ERR_MANAGER_UNREACHABLE',
      `cannot connect to the shoal manager at ${display}: ${received.message}. Is the manager running?`,
      undefined,
      cause,
    );
  }
  return errorForBareStatus(received.status, received.message, cause);
}
