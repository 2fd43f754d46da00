import t from 'tap';
import { Metadata, status } from '@grpc/grpc-js';
import { ShoalError } from '../../../src/common/errors.ts';
import { API_ERRORS, apiError, ERROR_CODE_METADATA, grpcStatusOf, statusNameOf } from '../../../src/api/errors.ts';
import '../../../src/ipam/index.ts';
import { toServiceError } from '../../../src/manager/api-server.ts';
import { fromGrpcError } from '../../../src/api/grpc-connection.ts';
import type { ServiceError } from '@grpc/grpc-js';

t.test('error categories map to the gRPC statuses of the one table', async (t) => {
  const cases: [string, status][] = [
    ['SHOAL_ERR_NETWORK_IN_USE', status.FAILED_PRECONDITION],
    ['SHOAL_ERR_INGRESS_PROTECTED', status.FAILED_PRECONDITION],
    ['SHOAL_ERR_NETWORK_EXISTS', status.ALREADY_EXISTS],
    ['SHOAL_ERR_SERVICE_EXISTS', status.ALREADY_EXISTS],
    ['SHOAL_ERR_PORT_IN_USE', status.ALREADY_EXISTS],
    ['SHOAL_ERR_BAD_SPEC', status.INVALID_ARGUMENT],
    ['SHOAL_ERR_DNSRR_INGRESS_PORT', status.INVALID_ARGUMENT],
    ['SHOAL_ERR_IPAM_BAD_CIDR', status.INVALID_ARGUMENT],
    ['SHOAL_ERR_IPAM_OVERLAP', status.ALREADY_EXISTS],
    ['SHOAL_ERR_NETWORK_NOT_FOUND', status.NOT_FOUND],
    ['SHOAL_ERR_NODE_NOT_FOUND', status.NOT_FOUND],
    ['SHOAL_ERR_VERSION_CONFLICT', status.ABORTED],
    ['SHOAL_ERR_JOIN_TOKEN_REJECTED', status.PERMISSION_DENIED],
    ['SHOAL_ERR_UNAUTHENTICATED', status.UNAUTHENTICATED],
    ['SHOAL_ERR_PORTS_EXHAUSTED', status.RESOURCE_EXHAUSTED],
    ['SHOAL_ERR_INTERNAL', status.INTERNAL],
    ['SHOAL_ERR_SOMETHING_UNREGISTERED', status.INTERNAL],
  ];
  // an undeclared code only exists as one received from elsewhere (ShoalError.remote)
  for (const [code, want] of cases) t.equal(grpcStatusOf(ShoalError.remote(code, 'x')), want, code);
  for (const code of API_ERRORS.codes) t.match(code, /^SHOAL_ERR_[A-Z0-9_]+$/);
  t.equal(statusNameOf('SHOAL_ERR_VERSION_CONFLICT', 'precondition'), 'ABORTED', 'by code');
  t.equal(statusNameOf('SHOAL_ERR_BAD_SPEC', 'invalid'), 'INVALID_ARGUMENT', 'by category');
});

t.test('an error crosses the wire with its code, message and details', async (t) => {
  const original = apiError('SHOAL_ERR_PORT_IN_USE', 'port 8080/tcp is already in use by service web', { port: 8080 });
  const s = toServiceError(original);
  const wire = Object.assign(new Error(s.details), { code: s.code, details: s.details, metadata: s.metadata }) as unknown as ServiceError;
  const back = fromGrpcError(wire, 'unix:///x');
  t.equal(back.code, 'SHOAL_ERR_PORT_IN_USE');
  t.equal(back.message, original.message);
  t.same(back.details, { port: 8080 });
  const bare = fromGrpcError(
    Object.assign(new Error('x'), { code: status.UNAVAILABLE, details: 'connect ENOENT', metadata: undefined }) as unknown as ServiceError,
    'unix:///x',
  );
  t.equal(bare.code, 'SHOAL_ERR_MANAGER_UNREACHABLE');
  t.match(bare.message, /cannot connect to the shoal manager at unix:\/\/\/x/);
});

t.test('a code this process does not declare arrives as sent (a newer manager, a module not loaded here)', async (t) => {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA, 'SHOAL_ERR_FROM_A_NEWER_MANAGER');
  const wire = Object.assign(new Error('x'), { code: status.FAILED_PRECONDITION, details: 'newer', metadata }) as unknown as ServiceError;
  const back = fromGrpcError(wire, 'unix:///x');
  t.equal(back.code, 'SHOAL_ERR_FROM_A_NEWER_MANAGER');
  t.equal(back.message, 'newer');
  t.equal(back.category, 'internal', 'unknown here, so internal');
});
