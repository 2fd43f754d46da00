/**
 * A grpc-js channel to the manager with typed unary and streaming calls by service and
 * method name: what an agent uses (its session is a server stream, its reports a client
 * stream, and the channel keeps itself alive with keepalive pings and reconnects).
 *
 * The CLI does not use this file: loading @grpc/grpc-js costs a short-lived command more
 * than its call, so `connectManager` gives the CLI the HTTP/2 client of h2-connection.ts.
 * Both turn a failed call into the same ShoalError through `errorFromStatus` (errors.ts),
 * and both trust the same certificates (`checkManagerIdentity`, manager-target.ts).
 */
import * as grpc from '@grpc/grpc-js';
import type { ShoalError } from '../common/errors.ts';
import { MANAGER_DNS_NAME } from './certificates.ts';
import type { UnaryConnection } from './client.ts';
import { ERROR_CODE_METADATA, ERROR_DETAILS_METADATA, errorFromStatus } from './errors.ts';
import { checkManagerIdentity } from './manager-target.ts';
import type { Target, TlsMaterial } from './manager-target.ts';
import { codecFor, methodInfo } from './proto.ts';
import type { ApiServiceName } from './proto.ts';

/** grpc-js credentials for a target: insecure without TLS material, else the cluster's mTLS. */
export function channelCredentials(tls: TlsMaterial | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null, {
    checkServerIdentity: checkManagerIdentity,
    ...(tls.insecureSkipVerify ? { rejectUnauthorized: false } : {}),
  });
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // node certificates name node IDs, not addresses: verify the role (checkManagerIdentity)
  // and present this name as SNI instead of an IP address
  'grpc.ssl_target_name_override': MANAGER_DNS_NAME,
  'grpc.max_receive_message_length': 256 * 1024 * 1024,
  'grpc.max_send_message_length': 256 * 1024 * 1024,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/** The metadata value of `key` as a string, when there is one. */
function metadataString(metadata: grpc.Metadata | undefined, key: string): string | undefined {
  const v = metadata?.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/** Turns a grpc-js error into the ShoalError the manager threw. */
export function fromGrpcError(err: grpc.ServiceError, display: string): ShoalError {
  return errorFromStatus(
    {
      status: err.code,
      message: err.details || err.message,
      code: metadataString(err.metadata, ERROR_CODE_METADATA),
      details: metadataString(err.metadata, ERROR_DETAILS_METADATA),
    },
    display,
    err,
  );
}

/** A grpc-js channel to the manager with typed unary and streaming calls by service and method name. */
export class GrpcConnection implements UnaryConnection {
  readonly target: Target;
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(target: Target, tls: TlsMaterial | undefined, timeoutMs = 60_000) {
    this.target = target;
    this.timeoutMs = timeoutMs;
    this.client = new grpc.Client(target.target, channelCredentials(target.secure ? tls : undefined), CHANNEL_OPTIONS);
  }

  unary<Req, Res>(service: ApiServiceName, name: string, request: Req, timeoutMs = this.timeoutMs): Promise<Res> {
    const m = methodInfo(service, name);
    const req = codecFor<Req>(m.requestType);
    const res = codecFor<Res>(m.responseType);
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<Req, Res>(
        m.path,
        (v) => req.encode(v),
        (b) => res.decode(b),
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => {
          if (err) reject(fromGrpcError(err, this.target.display));
          else resolve(value as Res);
        },
      );
    });
  }

  /** A server stream; the caller reads with `on('data')` and ends it with `cancel()`. */
  serverStream<Req, Res>(service: ApiServiceName, name: string, request: Req): grpc.ClientReadableStream<Res> {
    const m = methodInfo(service, name);
    const req = codecFor<Req>(m.requestType);
    const res = codecFor<Res>(m.responseType);
    return this.client.makeServerStreamRequest<Req, Res>(
      m.path,
      (v) => req.encode(v),
      (b) => res.decode(b),
      request,
      new grpc.Metadata(),
      {},
    );
  }

  /** A client stream; `done` gets the single response or the error. */
  clientStream<Req, Res>(
    service: ApiServiceName,
    name: string,
    done: (err: ShoalError | null, value?: Res) => void,
  ): grpc.ClientWritableStream<Req> {
    const m = methodInfo(service, name);
    const req = codecFor<Req>(m.requestType);
    const res = codecFor<Res>(m.responseType);
    return this.client.makeClientStreamRequest<Req, Res>(
      m.path,
      (v) => req.encode(v),
      (b) => res.decode(b),
      new grpc.Metadata(),
      {},
      (err, value) => {
        if (err) done(fromGrpcError(err, this.target.display));
        else done(null, value);
      },
    );
  }

  close(): void {
    this.client.close();
  }
}
