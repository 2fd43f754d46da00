/**
 * A unary-only gRPC client over Node's own node:http2: what every `shoal` command uses to
 * call the manager. A command makes one or a few unary calls and exits, and loading
 * @grpc/grpc-js (with its resolvers, load balancers and channel machinery) costs it more
 * than the calls; this client is one HTTP/2 session per connection and one stream per call.
 * Agents, which stream and stay connected, use grpc-connection.ts.
 *
 * A call (grpc/grpc doc/PROTOCOL-HTTP2.md): POST to /shoal.api.v1.<Service>/<Method> with
 * content-type application/grpc, te: trailers and grpc-timeout; the body is one
 * length-prefixed message. The response is read by grpc-wire.ts (`unaryOutcome`): the
 * message, or the status from the trailers (or from the headers of a trailers-only
 * response) with the manager's code and details in our metadata keys, which
 * `errorFromStatus` turns into the ShoalError the manager threw, exactly as grpc-connection
 * does for grpc-js.
 *
 * Targets: `unix:///path` (plain HTTP/2 over the socket; the socket's file mode guards it)
 * and `tcp://IP:PORT` (HTTP/2 over TLS with the cluster's certificates, SNI
 * MANAGER_DNS_NAME, and the server accepted when its certificate is a manager certificate
 * of this cluster: `checkManagerIdentity`, the same check the grpc-js channel makes).
 *
 * Failures: nothing listening (ENOENT, ECONNREFUSED) or TLS refused -> UNAVAILABLE ->
 * SHOAL_ERR_MANAGER_UNREACHABLE; no answer before the deadline (the local timer, which
 * also covers a socket that accepts and never speaks) -> DEADLINE_EXCEEDED ->
 * SHOAL_ERR_TIMEOUT; a call after close() -> CANCELLED -> SHOAL_ERR_CLOSED.
 *
 * Lifecycle: the session opens on the first call and is reused by later ones; a session
 * that failed or was closed by the server (GOAWAY) is replaced on the next call. The
 * session never keeps the process alive by itself (unref'd): a call in flight does, through
 * its deadline timer. close() closes the session gracefully (calls in flight finish).
 */
import { connect as connectHttp2, constants as h2 } from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, ClientSessionOptions, SecureClientSessionOptions } from 'node:http2';
import { connect as connectNet } from 'node:net';
import { isShoalError } from '../common/errors.ts';
import { SHOAL_VERSION } from '../common/version.ts';
import { MANAGER_DNS_NAME } from './certificates.ts';
import type { UnaryConnection } from './client.ts';
import { apiError, errorForBareStatus, errorFromStatus } from './errors.ts';
import { GRPC_STATUS } from './grpc-status.ts';
import { frameMessage, grpcTimeout, MAX_MESSAGE_BYTES, MESSAGE_PREFIX_BYTES, unaryOutcome } from './grpc-wire.ts';
import type { WireHeaders } from './grpc-wire.ts';
import { checkManagerIdentity } from './manager-target.ts';
import type { Target, TlsMaterial } from './manager-target.ts';
import { codecFor, methodInfo } from './proto.ts';
import type { ApiServiceName } from './proto.ts';

/** The longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days); a longer deadline waits that long. */
const MAX_TIMER_MS = 2_147_483_647;

/** One HTTP/2 session and the failure that ended it, if one did. */
interface SessionSlot {
  readonly session: ClientHttp2Session;
  error: Error | undefined;
}

/**
 * The connection's failure behind a stream error, or undefined when the stream itself was
 * reset (its RST_STREAM code says what happened). Streams still waiting for the connection
 * fail with ERR_HTTP2_STREAM_CANCEL, whose cause is the socket's error.
 */
function transportFailure(err: Error & { code?: string }, slot: SessionSlot): Error | undefined {
  if (err.code === 'ERR_HTTP2_STREAM_ERROR') return undefined;
  if (err.code === 'ERR_HTTP2_STREAM_CANCEL' && err.cause instanceof Error) return err.cause;
  return slot.error ?? err;
}

export class H2Connection implements UnaryConnection {
  readonly target: Target;
  private readonly tls: TlsMaterial | undefined;
  private readonly timeoutMs: number;
  private slot: SessionSlot | undefined;
  /** Calls not yet settled. */
  private inFlight = 0;
  private closed = false;

  /** `tls` is used for a secure (tcp://) target only; `timeoutMs` is each call's default deadline. */
  constructor(target: Target, tls: TlsMaterial | undefined, timeoutMs = 60_000) {
    this.target = target;
    this.tls = target.secure ? tls : undefined;
    this.timeoutMs = timeoutMs;
  }

  /** Whether an HTTP/2 session is open now (diagnostics, tests): false before the first call and after the session ended. */
  get sessionOpen(): boolean {
    const s = this.slot?.session;
    return s !== undefined && !s.closed && !s.destroyed;
  }

  unary<Req, Res>(service: ApiServiceName, name: string, request: Req, timeoutMs = this.timeoutMs): Promise<Res> {
    const display = this.target.display;
    if (this.closed) {
      return Promise.reject(errorForBareStatus(GRPC_STATUS.CANCELLED, `the connection to the shoal manager at ${display} is closed`));
    }
    let path: string;
    let decode: (bytes: Buffer) => Res;
    let body: Buffer;
    let slot: SessionSlot;
    try {
      const m = methodInfo(service, name);
      path = m.path;
      const res = codecFor<Res>(m.responseType);
      decode = (bytes) => res.decode(bytes);
      try {
        body = frameMessage(codecFor<Req>(m.requestType).encode(request));
      } catch (err) {
        throw errorForBareStatus(GRPC_STATUS.INTERNAL, `cannot encode the ${service}/${name} request: ${(err as Error).message}`, err);
      }
      slot = this.session();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Res>((resolve, reject) => {
      let responseHeaders: WireHeaders | undefined;
      let trailers: WireHeaders | undefined;
      let transportError: Error | undefined;
      const chunks: Buffer[] = [];
      let received = 0;
      let settled = false;
      let stream: ClientHttp2Stream | undefined;
      this.inFlight++;
      /** Marks the call settled; false when it already was (the deadline and the stream race). */
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        this.inFlight--;
        clearTimeout(timer);
        return true;
      };
      const timer = setTimeout(
        () => {
          if (!settle()) return;
          stream?.close(h2.NGHTTP2_CANCEL);
          reject(
            errorForBareStatus(
              GRPC_STATUS.DEADLINE_EXCEEDED,
              `deadline exceeded: the shoal manager at ${display} did not answer ${service}/${name} within ${timeoutMs} ms`,
            ),
          );
        },
        Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS),
      );
      try {
        stream = slot.session.request(
          {
            [h2.HTTP2_HEADER_METHOD]: 'POST',
            [h2.HTTP2_HEADER_PATH]: path,
            'content-type': 'application/grpc',
            te: 'trailers',
            'grpc-timeout': grpcTimeout(timeoutMs),
            'grpc-accept-encoding': 'identity',
            'user-agent': `shoal/${SHOAL_VERSION}`,
          },
          { endStream: false },
        );
      } catch (err) {
        // the session went away between the check and the request (GOAWAY, destroyed)
        if (settle()) reject(errorFromStatus({ status: GRPC_STATUS.UNAVAILABLE, message: (err as Error).message }, display, err));
        return;
      }
      const call = stream;
      call.on('response', (h) => {
        responseHeaders = h;
      });
      call.on('trailers', (h) => {
        trailers = h;
      });
      call.on('data', (chunk: Buffer) => {
        if (settled) return;
        received += chunk.length;
        if (received > MAX_MESSAGE_BYTES + MESSAGE_PREFIX_BYTES) {
          settle();
          call.close(h2.NGHTTP2_CANCEL);
          reject(
            errorForBareStatus(GRPC_STATUS.RESOURCE_EXHAUSTED, `the ${service}/${name} response is larger than ${MAX_MESSAGE_BYTES} bytes`),
          );
          return;
        }
        chunks.push(chunk);
      });
      call.on('error', (err: Error) => {
        transportError ??= transportFailure(err, slot);
      });
      call.on('close', () => {
        if (!settle()) return;
        const outcome = unaryOutcome({
          headers: responseHeaders,
          trailers,
          body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
          resetCode: call.rstCode ?? 0,
          transportError,
        });
        if (!outcome.ok) {
          reject(errorFromStatus(outcome.status, display, transportError));
          return;
        }
        let value: Res;
        try {
          value = decode(outcome.message);
        } catch (err) {
          reject(errorForBareStatus(GRPC_STATUS.INTERNAL, `cannot decode the ${service}/${name} response: ${(err as Error).message}`, err));
          return;
        }
        resolve(value);
      });
      call.end(body);
    });
  }

  /** The open session, or a new one when there is none or it ended. */
  private session(): SessionSlot {
    const current = this.slot;
    if (current && !current.session.closed && !current.session.destroyed) return current;
    const session = this.open();
    const slot: SessionSlot = { session, error: undefined };
    session.on('error', (err: Error) => {
      slot.error ??= err;
    });
    session.on('close', () => {
      if (this.slot === slot) this.slot = undefined;
    });
    // calls in flight keep the process alive through their deadline timers
    session.unref();
    this.slot = slot;
    return slot;
  }

  private open(): ClientHttp2Session {
    const { target } = this;
    if (!target.secure) {
      const path = target.target.slice('unix://'.length);
      const options: ClientSessionOptions = { createConnection: () => connectNet(path) };
      return connectHttp2('http://localhost', options);
    }
    const tls = this.tls;
    const options: SecureClientSessionOptions = {
      // node certificates name node IDs, not addresses: check the role, and present this
      // name as SNI instead of an IP address (as the grpc-js channel does)
      servername: MANAGER_DNS_NAME,
      checkServerIdentity: checkManagerIdentity,
      ...(tls?.ca ? { ca: tls.ca } : {}),
      ...(tls?.cert ? { cert: tls.cert } : {}),
      ...(tls?.key ? { key: tls.key } : {}),
      ...(tls?.insecureSkipVerify ? { rejectUnauthorized: false } : {}),
    };
    try {
      return connectHttp2(`https://${target.target}`, options);
    } catch (err) {
      // a key or certificate that does not parse fails here, before any connection
      if (isShoalError(err)) throw err;
      throw apiError(
        'SHOAL_ERR_CERTIFICATE',
        `cannot use the TLS certificates for ${target.display}: ${(err as Error).message}`,
        { host: target.display },
        err,
      );
    }
  }

  /**
   * Closes the session: calls in flight finish, later calls fail with SHOAL_ERR_CLOSED.
   * Without calls in flight the session is destroyed at once, so that one still connecting
   * (a TLS handshake that never completes) does not linger. Idempotent.
   */
  close(): void {
    this.closed = true;
    const slot = this.slot;
    this.slot = undefined;
    if (!slot) return;
    if (this.inFlight === 0) slot.session.destroy();
    else slot.session.close();
  }
}
