/**
 * The standard gRPC status codes (grpc/grpc doc/statuscodes.md), as numbers on the wire in
 * `grpc-status` and as names in messages and docs.
 *
 * Our own table, so that what both sides of the API share (errors.ts) and the CLI's
 * connection (h2-connection.ts) need no gRPC library at run time: loading @grpc/grpc-js
 * costs a `shoal` command more than the call itself. The numbers are fixed by the gRPC
 * protocol and never change; grpc-js's `status` enum has the same values, so the manager's
 * server code may pass these where grpc-js expects its own.
 */

export const GRPC_STATUS = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const);

export type GrpcStatusName = keyof typeof GRPC_STATUS;
/** One of the standard status numbers. */
export type GrpcStatus = (typeof GRPC_STATUS)[GrpcStatusName];

const NAMES: readonly GrpcStatusName[] = (Object.keys(GRPC_STATUS) as GrpcStatusName[]).sort((a, b) => GRPC_STATUS[a] - GRPC_STATUS[b]);

/** Whether `n` is one of the standard status numbers (a peer may send any integer). */
export function isGrpcStatus(n: number): n is GrpcStatus {
  return Number.isInteger(n) && n >= 0 && n < NAMES.length;
}

/** The status's name as gRPC writes it (`FAILED_PRECONDITION`); `STATUS_42` for a number outside the standard set. */
export function grpcStatusName(status: number): string {
  return isGrpcStatus(status) ? NAMES[status]! : `STATUS_${status}`;
}
