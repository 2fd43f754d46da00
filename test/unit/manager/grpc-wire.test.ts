// gRPC over HTTP/2 as the CLI's client reads it (src/api/grpc-wire.ts), without sockets:
// message framing, grpc-timeout, grpc-message decoding, and a case table of finished
// responses and the outcome each means. Our status table is checked against grpc-js's.
import t from 'tap';
import { status as grpcJsStatus } from '@grpc/grpc-js';
import { GRPC_STATUS, grpcStatusName, isGrpcStatus } from '../../../src/api/grpc-status.ts';
import type { UnaryResponse } from '../../../src/api/grpc-wire.ts';
import {
  decodeGrpcMessage,
  frameMessage,
  grpcTimeout,
  MAX_MESSAGE_BYTES,
  statusOfHttp,
  unaryOutcome,
  unframeMessages,
} from '../../../src/api/grpc-wire.ts';

t.test("our gRPC status table is the protocol's (grpc-js's enum)", async (t) => {
  for (const [name, n] of Object.entries(GRPC_STATUS)) {
    t.equal(n, grpcJsStatus[name as keyof typeof grpcJsStatus], name);
    t.equal(grpcStatusName(n), name);
  }
  t.equal(Object.keys(GRPC_STATUS).length, 17, 'OK through UNAUTHENTICATED');
  t.equal(grpcStatusName(42), 'STATUS_42');
  t.notOk(isGrpcStatus(17));
  t.notOk(isGrpcStatus(-1));
  t.notOk(isGrpcStatus(1.5));
});

t.test('a message is framed with flag 0 and a big-endian length, and unframed back', async (t) => {
  const framed = frameMessage(Buffer.from('hello'));
  t.same([...framed], [0, 0, 0, 0, 5, ...Buffer.from('hello')]);
  t.same([...frameMessage(new Uint8Array(0))], [0, 0, 0, 0, 0], 'an empty message (all defaults) is five bytes');
  const big = Buffer.alloc(70_000, 7);
  const two = Buffer.concat([frameMessage(Buffer.from('a')), frameMessage(big)]);
  const read = unframeMessages(two);
  t.ok('messages' in read);
  if ('messages' in read) {
    t.equal(read.messages.length, 2);
    t.equal(read.messages[0]!.toString(), 'a');
    t.ok(read.messages[1]!.equals(big));
  }
  t.same(unframeMessages(Buffer.alloc(0)), { messages: [] });
});

t.test('a body that is not a sequence of messages says why', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['a short prefix', Buffer.from([0, 0, 0]), /truncated message prefix \(3 bytes\)/],
    ['a short message', Buffer.from([0, 0, 0, 0, 4, 1, 2]), /truncated message \(2 of 4 bytes\)/],
    ['compressed', Buffer.from([1, 0, 0, 0, 1, 9]), /compressed message/],
    ['an unknown flag', Buffer.from([2, 0, 0, 0, 0]), /compressed flag 2/],
    ['over the limit', Buffer.from([0, 0xff, 0xff, 0xff, 0xff]), new RegExp(`limit is ${MAX_MESSAGE_BYTES}`)],
  ];
  for (const [what, body, want] of cases) {
    const read = unframeMessages(body);
    t.ok('error' in read && want.test(read.error), what);
  }
});

t.test('grpc-timeout uses at most eight digits, in the finest unit that fits', async (t) => {
  const cases: [number, string][] = [
    [0, '0m'],
    [0.2, '1m'],
    [60_000, '60000m'],
    [99_999_999, '99999999m'],
    [100_000_000, '100000S'],
    [99_999_999_000 + 1, '1666667M'],
    [Number.MAX_SAFE_INTEGER, '99999999H'],
    [-5, '0m'],
  ];
  for (const [ms, want] of cases) t.equal(grpcTimeout(ms), want, String(ms));
});

t.test('grpc-message is percent-decoded; what does not decode stays as sent', async (t) => {
  const cases: [string, string][] = [
    ['plain text', 'plain text'],
    ['100%25 sure', '100% sure'],
    ['caf%C3%A9 ok', 'café ok'],
    ['%E2%9C%93%0Anext', '✓\nnext'],
    ['a stray % here', 'a stray % here'],
    ['not utf-8 %FF%FE end', 'not utf-8 %FF%FE end'],
    ['half %C3 of it', 'half %C3 of it'],
  ];
  for (const [raw, want] of cases) t.equal(decodeGrpcMessage(raw), want, raw);
});

t.test('HTTP statuses without grpc-status map as gRPC documents', async (t) => {
  const cases: [number, number][] = [
    [400, GRPC_STATUS.INTERNAL],
    [401, GRPC_STATUS.UNAUTHENTICATED],
    [403, GRPC_STATUS.PERMISSION_DENIED],
    [404, GRPC_STATUS.UNIMPLEMENTED],
    [429, GRPC_STATUS.UNAVAILABLE],
    [502, GRPC_STATUS.UNAVAILABLE],
    [503, GRPC_STATUS.UNAVAILABLE],
    [504, GRPC_STATUS.UNAVAILABLE],
    [500, GRPC_STATUS.UNKNOWN],
    [302, GRPC_STATUS.UNKNOWN],
  ];
  for (const [http, want] of cases) t.equal(statusOfHttp(http), want, String(http));
});

t.test('what a finished response means for a unary call', async (t) => {
  const ok200 = { ':status': 200, 'content-type': 'application/grpc' };
  const one = frameMessage(Buffer.from([8, 1]));
  const base: UnaryResponse = { headers: ok200, trailers: { 'grpc-status': '0' }, body: one, resetCode: 0 };
  const cases: [
    string,
    UnaryResponse,
    { ok: true; message: number[] } | { status: number; message: RegExp | string; code?: string; details?: string },
  ][] = [
    ['one message and status 0', base, { ok: true, message: [8, 1] }],
    [
      'an error in the trailers, with our metadata',
      {
        ...base,
        body: Buffer.alloc(0),
        trailers: {
          'grpc-status': '5',
          'grpc-message': 'network%20nope%20not%20found',
          'shoal-error-code': 'SHOAL_ERR_NETWORK_NOT_FOUND',
          'shoal-error-details': '{"network":"nope"}',
        },
      },
      { status: 5, message: 'network nope not found', code: 'SHOAL_ERR_NETWORK_NOT_FOUND', details: '{"network":"nope"}' },
    ],
    [
      'a trailers-only response: the status in the headers',
      {
        headers: { ...ok200, 'grpc-status': '9', 'grpc-message': 'in use', 'shoal-error-code': 'SHOAL_ERR_NETWORK_IN_USE' },
        trailers: undefined,
        body: Buffer.alloc(0),
        resetCode: 0,
      },
      { status: 9, message: 'in use', code: 'SHOAL_ERR_NETWORK_IN_USE' },
    ],
    [
      'a status without a message gets grpc-js wording',
      { ...base, trailers: { 'grpc-status': '14' } },
      { status: 14, message: '14 UNAVAILABLE' },
    ],
    [
      'grpc-status wins over a non-200 HTTP status',
      { ...base, headers: { ':status': 503, 'grpc-status': '8', 'grpc-message': 'busy' }, trailers: undefined },
      { status: 8, message: 'busy' },
    ],
    [
      'HTTP 404 from something that is not a gRPC server',
      { headers: { ':status': 404, 'content-type': 'text/plain' }, trailers: undefined, body: Buffer.from('nope'), resetCode: 0 },
      { status: GRPC_STATUS.UNIMPLEMENTED, message: /HTTP status 404/ },
    ],
    [
      'HTTP 503 without grpc-status',
      { headers: { ':status': 503 }, trailers: undefined, body: Buffer.alloc(0), resetCode: 0 },
      { status: GRPC_STATUS.UNAVAILABLE, message: /HTTP status 503/ },
    ],
    [
      'reset before any headers: REFUSED_STREAM',
      { headers: undefined, trailers: undefined, body: Buffer.alloc(0), resetCode: 7 },
      { status: GRPC_STATUS.UNAVAILABLE, message: /refused the stream/ },
    ],
    [
      'reset before any headers: CANCEL',
      { headers: undefined, trailers: undefined, body: Buffer.alloc(0), resetCode: 8 },
      { status: GRPC_STATUS.CANCELLED, message: /cancelled/ },
    ],
    [
      'reset after the headers: INTERNAL_ERROR',
      { headers: ok200, trailers: undefined, body: Buffer.alloc(0), resetCode: 2 },
      { status: GRPC_STATUS.INTERNAL, message: /HTTP\/2 error code 2/ },
    ],
    [
      'headers, then the stream ends without trailers',
      { headers: ok200, trailers: undefined, body: one, resetCode: 0 },
      { status: GRPC_STATUS.INTERNAL, message: /without a status/ },
    ],
    [
      'the connection failed before anything arrived',
      { headers: undefined, trailers: undefined, body: Buffer.alloc(0), resetCode: 2, transportError: new Error('connect ENOENT /x.sock') },
      { status: GRPC_STATUS.UNAVAILABLE, message: 'connect ENOENT /x.sock' },
    ],
    [
      'closed cleanly without anything',
      { headers: undefined, trailers: undefined, body: Buffer.alloc(0), resetCode: 0 },
      { status: GRPC_STATUS.UNAVAILABLE, message: /closed before the manager answered/ },
    ],
    ['status 0 without a message', { ...base, body: Buffer.alloc(0) }, { status: GRPC_STATUS.INTERNAL, message: /0 response messages/ }],
    [
      'status 0 with two messages',
      { ...base, body: Buffer.concat([one, one]) },
      { status: GRPC_STATUS.INTERNAL, message: /2 response messages/ },
    ],
    [
      'status 0 with a compressed message',
      { ...base, body: Buffer.from([1, 0, 0, 0, 1, 0]) },
      { status: GRPC_STATUS.INTERNAL, message: /compressed message/ },
    ],
    [
      'an unreadable grpc-status',
      { ...base, trailers: { 'grpc-status': 'five' } },
      { status: GRPC_STATUS.UNKNOWN, message: /unreadable grpc-status "five"/ },
    ],
  ];
  for (const [what, response, want] of cases) {
    const got = unaryOutcome(response);
    if ('ok' in want) {
      t.ok(got.ok, what);
      if (got.ok) t.same([...got.message], want.message, what);
      continue;
    }
    t.notOk(got.ok, what);
    if (got.ok) continue;
    t.equal(got.status.status, want.status, `${what}: status`);
    if (typeof want.message === 'string') t.equal(got.status.message, want.message, `${what}: message`);
    else t.match(got.status.message, want.message, `${what}: message`);
    t.equal(got.status.code, want.code, `${what}: code`);
    t.equal(got.status.details, want.details, `${what}: details`);
  }
});
