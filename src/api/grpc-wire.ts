/**
 * gRPC over HTTP/2 as the wire sees it, without I/O (grpc/grpc doc/PROTOCOL-HTTP2.md): the
 * length-prefixed message framing, the `grpc-timeout` header, the percent-encoded
 * `grpc-message`, and what a finished HTTP/2 response means for a unary call. The
 * transport (h2-connection.ts) only collects headers, DATA and trailers and hands them to
 * `unaryOutcome`; every rule of reading a response lives here and is tested by case tables.
 *
 * Only what the manager's grpc-js server sends is supported: identity encoding (we never
 * offer another), one response message per unary call.
 */
import { ERROR_CODE_METADATA, ERROR_DETAILS_METADATA } from './errors.ts';
import type { ReceivedStatus } from './errors.ts';
import { GRPC_STATUS, grpcStatusName } from './grpc-status.ts';
import type { GrpcStatus } from './grpc-status.ts';

/** Bytes before each message: a compressed flag and a 4-byte big-endian length. */
export const MESSAGE_PREFIX_BYTES = 5;

/** The largest response message accepted (as the grpc-js channel's receive limit). */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** One message as it goes in a DATA frame: flag 0 (not compressed), length, bytes. */
export function frameMessage(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, MESSAGE_PREFIX_BYTES);
  return out;
}

/** The messages of a response body, or why the body is not a sequence of messages. */
export function unframeMessages(body: Buffer): { messages: Buffer[] } | { error: string } {
  const messages: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < MESSAGE_PREFIX_BYTES) return { error: `a truncated message prefix (${body.length - at} bytes)` };
    const flag = body[at]!;
    const length = body.readUInt32BE(at + 1);
    if (flag === 1) return { error: 'a compressed message (no compression was offered)' };
    if (flag !== 0) return { error: `a message with compressed flag ${flag}` };
    if (length > MAX_MESSAGE_BYTES) return { error: `a message of ${length} bytes (the limit is ${MAX_MESSAGE_BYTES})` };
    const start = at + MESSAGE_PREFIX_BYTES;
    if (body.length - start < length) return { error: `a truncated message (${body.length - start} of ${length} bytes)` };
    messages.push(body.subarray(start, start + length));
    at = start + length;
  }
  return { messages };
}

/** The `grpc-timeout` value for a deadline `ms` from now: at most 8 digits, in the finest unit that fits. */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  const units: [divisor: number, unit: string][] = [
    [1, 'm'],
    [1000, 'S'],
    [60_000, 'M'],
    [3_600_000, 'H'],
  ];
  for (const [divisor, unit] of units) {
    const value = Math.ceil(whole / divisor);
    if (value <= 99_999_999) return `${value}${unit}`;
  }
  return '99999999H';
}

/**
 * Decodes a percent-encoded `grpc-message`. A sequence that does not decode (a stray `%`,
 * bytes that are not UTF-8) is kept as it arrived, as the protocol asks.
 */
export function decodeGrpcMessage(raw: string): string {
  if (!raw.includes('%')) return raw;
  return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** The status a non-200 HTTP response without `grpc-status` means (grpc/grpc doc/http-grpc-status-mapping.md). */
export function statusOfHttp(httpStatus: number): GrpcStatus {
  switch (httpStatus) {
    case 400:
      return GRPC_STATUS.INTERNAL;
    case 401:
      return GRPC_STATUS.UNAUTHENTICATED;
    case 403:
      return GRPC_STATUS.PERMISSION_DENIED;
    case 404:
      return GRPC_STATUS.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GRPC_STATUS.UNAVAILABLE;
    default:
      return GRPC_STATUS.UNKNOWN;
  }
}

/** HTTP/2 error codes (RFC 9113, section 7) that carry a meaning of their own for a call. */
const H2_REFUSED_STREAM = 0x7;
const H2_CANCEL = 0x8;
const H2_ENHANCE_YOUR_CALM = 0xb;
const H2_INADEQUATE_SECURITY = 0xc;

/** The status of a stream the peer reset before the call had a status (as grpc-js reads RST_STREAM). */
export function statusOfReset(errorCode: number): { status: GrpcStatus; message: string } {
  switch (errorCode) {
    case H2_REFUSED_STREAM:
      return { status: GRPC_STATUS.UNAVAILABLE, message: 'the manager refused the stream' };
    case H2_CANCEL:
      return { status: GRPC_STATUS.CANCELLED, message: 'the call was cancelled' };
    case H2_ENHANCE_YOUR_CALM:
      return { status: GRPC_STATUS.RESOURCE_EXHAUSTED, message: 'the manager reset the stream: too much load (ENHANCE_YOUR_CALM)' };
    case H2_INADEQUATE_SECURITY:
      return { status: GRPC_STATUS.PERMISSION_DENIED, message: 'the manager reset the stream: inadequate security' };
    default:
      return { status: GRPC_STATUS.INTERNAL, message: `the manager reset the stream (HTTP/2 error code ${errorCode})` };
  }
}

/** Header values as node:http2 hands them over (lower-case names; `:status` a number). */
export type WireHeaders = Readonly<Record<string, string | string[] | number | undefined>>;

/** What the transport saw of one unary call, once its stream closed. */
export interface UnaryResponse {
  /** The response headers; undefined when none arrived. */
  readonly headers: WireHeaders | undefined;
  /** The trailers; undefined for a trailers-only response or when none arrived. */
  readonly trailers: WireHeaders | undefined;
  /** The DATA frames' bytes, concatenated. */
  readonly body: Buffer;
  /** The RST_STREAM error code the stream closed with (0 for a clean close). */
  readonly resetCode: number;
  /** The connection's failure (refused, ENOENT, TLS), when there was one. */
  readonly transportError?: Error | undefined;
}

/** A unary call's result: its one response message, or the status it failed with. */
export type UnaryOutcome = { readonly ok: true; readonly message: Buffer } | { readonly ok: false; readonly status: ReceivedStatus };

function headerText(headers: WireHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : String(v);
}

function failed(status: number, message: string): UnaryOutcome {
  return { ok: false, status: { status, message } };
}

/**
 * What a finished response means. The status comes from the trailers, or from the headers
 * of a trailers-only response (an error before any message); without one, from the HTTP
 * status, the stream reset or the connection's failure. Metadata keys of errors.ts carry
 * the manager's code and details beside the status.
 */
export function unaryOutcome(response: UnaryResponse): UnaryOutcome {
  const { headers, trailers } = response;
  const statusSource = trailers ?? (headerText(headers, 'grpc-status') !== undefined ? headers : undefined);
  const rawStatus = headerText(statusSource, 'grpc-status');
  if (rawStatus === undefined) {
    if (response.transportError) return failed(GRPC_STATUS.UNAVAILABLE, response.transportError.message);
    if (headers === undefined) {
      return response.resetCode !== 0
        ? failed(statusOfReset(response.resetCode).status, statusOfReset(response.resetCode).message)
        : failed(GRPC_STATUS.UNAVAILABLE, 'the connection closed before the manager answered');
    }
    const http = Number(headerText(headers, ':status'));
    if (http !== 200) return failed(statusOfHttp(http), `the manager answered HTTP status ${http}, not a gRPC response`);
    if (response.resetCode !== 0) return failed(statusOfReset(response.resetCode).status, statusOfReset(response.resetCode).message);
    return failed(GRPC_STATUS.INTERNAL, 'the manager ended the call without a status');
  }
  if (!/^\d+$/.test(rawStatus))
    return failed(GRPC_STATUS.UNKNOWN, `the manager sent an unreadable grpc-status ${JSON.stringify(rawStatus)}`);
  const status = Number(rawStatus);
  if (status !== GRPC_STATUS.OK) {
    return {
      ok: false,
      status: {
        status,
        // grpc-js's own wording when the status came alone: "<number> <NAME>"
        message: decodeGrpcMessage(headerText(statusSource, 'grpc-message') ?? '') || `${status} ${grpcStatusName(status)}`,
        code: headerText(statusSource, ERROR_CODE_METADATA),
        details: headerText(statusSource, ERROR_DETAILS_METADATA),
      },
    };
  }
  const read = unframeMessages(response.body);
  if ('error' in read) return failed(GRPC_STATUS.INTERNAL, `the manager sent ${read.error}`);
  if (read.messages.length !== 1) {
    return failed(GRPC_STATUS.INTERNAL, `the manager sent ${read.messages.length} response messages to a unary call`);
  }
  return { ok: true, message: read.messages[0]! };
}
