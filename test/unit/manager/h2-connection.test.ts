// The CLI's gRPC client over node:http2 (src/api/h2-connection.ts) against the real
// manager API server (grpc-js) started in this process on a unix socket and a loopback TLS
// port in a temporary data directory, and against small node:http2 servers that answer the
// way a broken or unusual server would. No kernel, no child processes.
//
// What it must match is the grpc-js channel (grpc-connection.ts): the same results and the
// same ShoalErrors for the same calls.
import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { createSecureServer, createServer as createH2Server, constants as h2 } from 'node:http2';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultNetworkSpec } from '../../../src/api/api-defaults.ts';
import type { Network } from '../../../src/api/api-types.ts';
import { generateNodeKey } from '../../../src/api/certificates.ts';
import { buildCsr } from '../../../src/api/csr.ts';
import { ManagerClient } from '../../../src/api/client.ts';
import { GrpcConnection } from '../../../src/api/grpc-connection.ts';
import { frameMessage } from '../../../src/api/grpc-wire.ts';
import { H2Connection } from '../../../src/api/h2-connection.ts';
import { parseHost, readTlsDir } from '../../../src/api/manager-target.ts';
import type { TlsMaterial } from '../../../src/api/manager-target.ts';
import { codecFor } from '../../../src/api/proto.ts';
import type { ShoalError } from '../../../src/common/errors.ts';
import { startManager } from '../../../src/manager/manager.ts';
import type { RunningManager } from '../../../src/manager/manager.ts';
import { freePort, until } from '../../support/manager-harness.ts';

/** A short temporary directory (unix socket paths hold 107 bytes), removed in teardown. */
function shortDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-h2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function h2Client(t: Test, host: string, tls?: TlsMaterial, timeoutMs = 10_000): ManagerClient {
  const c = new ManagerClient(new H2Connection(parseHost(host), tls, timeoutMs));
  t.teardown(() => c.close());
  return c;
}

function grpcClient(t: Test, host: string, tls?: TlsMaterial, timeoutMs = 10_000): ManagerClient {
  const c = new ManagerClient(new GrpcConnection(parseHost(host), tls, timeoutMs));
  t.teardown(() => c.close());
  return c;
}

/** The rejection of `p` (fails the test when it resolves). */
async function failure(t: Test, p: Promise<unknown>): Promise<ShoalError> {
  try {
    await p;
  } catch (err) {
    return err as ShoalError;
  }
  t.fail('expected the call to fail');
  throw new Error('resolved');
}

async function manager(t: Test): Promise<{ m: RunningManager; dir: string; socket: string; port: number }> {
  const dir = shortDir(t);
  const port = await freePort();
  const m = await startManager({ dataDir: dir, listenAddr: `127.0.0.1:${port}`, advertiseAddr: '127.0.0.1' }, { noSweep: true });
  t.teardown(() => m.close());
  return { m, dir, socket: `unix://${m.paths.socket}`, port: m.port };
}

t.test('against the manager over its unix socket', async (t) => {
  const { m, socket } = await manager(t);
  const c = h2Client(t, socket);
  const ref = grpcClient(t, socket);

  await t.test('a call succeeds, and its result is what the grpc-js channel gets', async (t) => {
    const networks = await c.listNetworks();
    t.same(
      networks.map((n) => n.spec.name),
      ['ingress'],
    );
    t.same(networks, await ref.listNetworks());
    t.same(await c.inspectSwarm(), await ref.inspectSwarm());
    const created = await c.createNetwork({ ...defaultNetworkSpec('front'), labels: { tier: 'web' } });
    t.equal(created.spec.labels['tier'], 'web');
    t.same(await c.inspectNetwork('front'), await ref.inspectNetwork('front'));
    await c.removeNetwork('front');
  });

  await t.test("the manager's error arrives with its code, message and details, as through grpc-js", async (t) => {
    const err = await failure(t, c.inspectNetwork('nope'));
    t.equal(err.code, 'SHOAL_ERR_NETWORK_NOT_FOUND');
    t.equal(err.message, 'network nope not found');
    t.same(err.details, { ref: 'nope' });
    const viaGrpc = await failure(t, ref.inspectNetwork('nope'));
    t.same([err.code, err.message, err.details], [viaGrpc.code, viaGrpc.message, viaGrpc.details]);
    const bad = await failure(t, c.createNetwork({ ...defaultNetworkSpec('x'), driver: 'bridge' }));
    t.equal(bad.code, 'SHOAL_ERR_BAD_DRIVER');
  });

  await t.test('a response spanning many DATA frames (and flow-control windows) arrives whole', async (t) => {
    const label = 'x'.repeat(4000);
    for (let i = 0; i < 120; i++) await m.control.createNetwork({ ...defaultNetworkSpec(`net-${i}`), labels: { big: label } });
    const networks = await c.listNetworks();
    t.equal(networks.length, 121);
    const bytes = codecFor<{ networks: Network[] }>('ListNetworksResponse').encode({ networks }).length;
    t.ok(bytes > 4 * 65_535, `the response (${bytes} bytes) is larger than the initial window several times over`);
    t.same(networks, await ref.listNetworks());
  });

  await t.test('close() ends the connection: later calls are SHOAL_ERR_CLOSED', async (t) => {
    const once = h2Client(t, socket);
    await once.inspectSwarm();
    once.close();
    once.close();
    const err = await failure(t, once.inspectSwarm());
    t.equal(err.code, 'SHOAL_ERR_CLOSED');
  });
});

t.test('nobody at the socket path is SHOAL_ERR_MANAGER_UNREACHABLE, in the words the CLI prints', async (t) => {
  const dir = shortDir(t);
  const host = `unix://${dir}/manager.sock`;
  const err = await failure(t, h2Client(t, host).listNetworks());
  t.equal(err.code, 'SHOAL_ERR_MANAGER_UNREACHABLE');
  t.equal(err.message, `cannot connect to the shoal manager at ${host}: connect ENOENT ${dir}/manager.sock. Is the manager running?`);
  const viaGrpc = await failure(t, grpcClient(t, host).listNetworks());
  t.equal(viaGrpc.code, err.code, 'as through grpc-js');
});

t.test('a socket that accepts and never answers runs into the deadline: SHOAL_ERR_TIMEOUT', async (t) => {
  const dir = shortDir(t);
  const path = join(dir, 'silent.sock');
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const c = h2Client(t, `unix://${path}`, undefined, 300);
  const t0 = performance.now();
  const err = await failure(t, c.listNetworks());
  const took = performance.now() - t0;
  t.equal(err.code, 'SHOAL_ERR_TIMEOUT');
  t.match(err.message, /did not answer Networks\/List within 300 ms/);
  t.ok(took >= 290 && took < 5000, `failed after the deadline (${took.toFixed(0)} ms)`);
  t.ok(sockets.size >= 1, 'the client did connect');
});

t.test('over tcp:// with the cluster certificates (mTLS)', async (t) => {
  const { m, dir, port } = await manager(t);
  const host = `tcp://127.0.0.1:${port}`;
  const managerTls = readTlsDir(join(dir, 'certificates'));

  await t.test("a manager certificate drives the API, as the CLI's -H tcp:// does", async (t) => {
    const c = h2Client(t, host, managerTls);
    t.same(
      (await c.listNetworks()).map((n) => n.spec.name),
      ['ingress'],
    );
    t.same(await c.inspectSwarm(), await grpcClient(t, host, managerTls).inspectSwarm());
  });

  await t.test('without a client certificate: the Ca service answers, the rest is SHOAL_ERR_UNAUTHENTICATED', async (t) => {
    const unverified = h2Client(t, host, { ca: null, insecureSkipVerify: true });
    const root = await unverified.getRootCa();
    t.equal(root.certPem, managerTls.ca!.toString());
    const anonymous = h2Client(t, host, { ca: managerTls.ca });
    t.equal((await anonymous.getRootCa()).digest, root.digest);
    t.equal((await failure(t, anonymous.listNetworks())).code, 'SHOAL_ERR_UNAUTHENTICATED');
  });

  await t.test('a worker certificate (joined through this client) is SHOAL_ERR_PERMISSION_DENIED for administration', async (t) => {
    const key = generateNodeKey();
    const token = (await m.control.joinToken('worker')).token;
    const issued = await h2Client(t, host, { ca: managerTls.ca }).issueNodeCertificate({
      token,
      csrPem: buildCsr(key),
      hostname: 'worker-1',
      advertiseAddr: '192.0.2.11',
    });
    t.equal(issued.role, 'worker');
    const worker = h2Client(t, host, { ca: managerTls.ca, cert: Buffer.from(issued.certPem), key: Buffer.from(key.keyPem) });
    const err = await failure(t, worker.listNetworks());
    t.equal(err.code, 'SHOAL_ERR_PERMISSION_DENIED');

    await t.test('and a server presenting that worker certificate is not taken for a manager', async (t) => {
      const fake: Http2SecureServer = createSecureServer({ key: key.keyPem, cert: issued.certPem });
      fake.on('stream', (s) => s.respond({ ':status': 200 }, { endStream: true }));
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
      t.teardown(() => new Promise<void>((resolve) => fake.close(() => resolve())));
      const addr = fake.address();
      const fakePort = typeof addr === 'object' && addr ? addr.port : 0;
      const e = await failure(t, h2Client(t, `tcp://127.0.0.1:${fakePort}`, managerTls).listNetworks());
      t.equal(e.code, 'SHOAL_ERR_MANAGER_UNREACHABLE');
      t.match(e.message, /not a shoal manager certificate/);
    });
  });

  await t.test("a server that does not verify against the cluster's CA is refused", async (t) => {
    // the manager's own certificate is not a CA: nothing verifies against it
    const wrong = { ...managerTls, ca: managerTls.cert! };
    const err = await failure(t, h2Client(t, host, wrong).listNetworks());
    t.equal(err.code, 'SHOAL_ERR_MANAGER_UNREACHABLE');
    t.match(err.message, /^cannot connect to the shoal manager at tcp:\/\/127\.0\.0\.1:\d+: .+\. Is the manager running\?$/);
  });

  await t.test('a key that does not parse is SHOAL_ERR_CERTIFICATE', async (t) => {
    const err = await failure(t, h2Client(t, host, { ...managerTls, key: Buffer.from('not a key') }).listNetworks());
    t.equal(err.code, 'SHOAL_ERR_CERTIFICATE');
  });

  await t.test('nothing listening on the port is SHOAL_ERR_MANAGER_UNREACHABLE', async (t) => {
    const closed = await freePort();
    const err = await failure(t, h2Client(t, `tcp://127.0.0.1:${closed}`, managerTls).listNetworks());
    t.equal(err.code, 'SHOAL_ERR_MANAGER_UNREACHABLE');
    t.match(err.message, /ECONNREFUSED/);
  });
});

/** A node:http2 server on a unix socket answering every stream with `answer`. */
async function fakeServer(
  t: Test,
  answer: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer) => void,
): Promise<{ host: string; server: Http2Server; sessions: () => number }> {
  const dir = shortDir(t);
  const path = join(dir, 'fake.sock');
  const server = createH2Server();
  let sessions = 0;
  server.on('session', () => sessions++);
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => answer(stream, headers, Buffer.concat(chunks)));
    stream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { host: `unix://${path}`, server, sessions: () => sessions };
}

/** Answers with one message and status 0 in the trailers, the DATA written in `chunk`-byte pieces. */
function answerOk(stream: ServerHttp2Stream, message: Uint8Array, chunk = 16_384): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  const framed = frameMessage(message);
  for (let at = 0; at < framed.length; at += chunk) stream.write(framed.subarray(at, at + chunk));
  stream.end();
}

t.test('against a hand-written HTTP/2 server', async (t) => {
  await t.test('the request is a gRPC unary call, and one session carries several calls', async (t) => {
    const seen: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
    const swarm = codecFor('Swarm');
    const fake = await fakeServer(t, (stream, headers, body) => {
      seen.push({ headers, body });
      answerOk(stream, swarm.encode({ id: 'c1' }));
    });
    const c = h2Client(t, fake.host, undefined, 1234);
    t.equal((await c.inspectSwarm()).id, 'c1');
    await c.inspectNetwork('front').catch(() => undefined);
    t.equal(seen.length, 2);
    const h = seen[0]!.headers;
    t.equal(h[':method'], 'POST');
    t.equal(h[':path'], '/shoal.api.v1.SwarmControl/Inspect');
    t.equal(h['content-type'], 'application/grpc');
    t.equal(h['te'], 'trailers');
    t.equal(h['grpc-timeout'], '1234m');
    t.same([...seen[0]!.body], [0, 0, 0, 0, 0], 'an empty request is a five-byte frame');
    const inspect = seen[1]!.body;
    t.same([...inspect.subarray(0, 5)], [0, 0, 0, 0, inspect.length - 5]);
    t.same(codecFor('NetworkRef').decode(inspect.subarray(5)), { network: 'front' });
    t.equal(fake.sessions(), 1, 'both calls on one session');
  });

  await t.test('a large message in small DATA frames', async (t) => {
    const networks = Array.from({ length: 3000 }, (_, i) => ({
      id: `n${i}`,
      spec: { ...defaultNetworkSpec(`net-${i}`), labels: { note: 'y'.repeat(500) } },
    }));
    const encoded = codecFor('ListNetworksResponse').encode({ networks });
    t.ok(encoded.length > 1_500_000);
    const fake = await fakeServer(t, (stream) => answerOk(stream, encoded, 1000));
    const got = await h2Client(t, fake.host).listNetworks();
    t.equal(got.length, 3000);
    t.equal(got[2999]!.spec.name, 'net-2999');
    t.equal(got[0]!.spec.labels['note'], 'y'.repeat(500));
  });

  await t.test('a trailers-only error with our metadata and a percent-encoded message', async (t) => {
    const fake = await fakeServer(t, (stream) =>
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '9',
          'grpc-message': 'network front is in use by service web %E2%80%94 remove it first',
          'shoal-error-code': 'SHOAL_ERR_NETWORK_IN_USE',
          'shoal-error-details': '{"network":"front","services":["web"]}',
        },
        { endStream: true },
      ),
    );
    const err = await failure(t, h2Client(t, fake.host).removeNetwork('front'));
    t.equal(err.code, 'SHOAL_ERR_NETWORK_IN_USE');
    t.equal(err.message, 'network front is in use by service web — remove it first');
    t.same(err.details, { network: 'front', services: ['web'] });
  });

  await t.test('a code this build does not declare arrives as sent', async (t) => {
    const fake = await fakeServer(t, (stream) =>
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': '9',
          'grpc-message': 'newer',
          'shoal-error-code': 'SHOAL_ERR_FROM_LATER',
        },
        { endStream: true },
      ),
    );
    const err = await failure(t, h2Client(t, fake.host).listNetworks());
    t.equal(err.code, 'SHOAL_ERR_FROM_LATER');
    t.equal(err.category, 'internal');
  });

  await t.test('bare statuses get the generic codes', async (t) => {
    const cases: [string, number, string][] = [
      ['DEADLINE_EXCEEDED from the server', 4, 'SHOAL_ERR_TIMEOUT'],
      ['UNAVAILABLE', 14, 'SHOAL_ERR_MANAGER_UNREACHABLE'],
      ['NOT_FOUND', 5, 'SHOAL_ERR_NOT_FOUND'],
      ['UNIMPLEMENTED', 12, 'SHOAL_ERR_INTERNAL'],
    ];
    for (const [what, status, code] of cases) {
      const fake = await fakeServer(t, (stream) =>
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status) }, { endStream: true }),
      );
      t.equal((await failure(t, h2Client(t, fake.host).listNetworks())).code, code, what);
    }
  });

  await t.test('an HTTP status other than 200', async (t) => {
    const cases: [number, string][] = [
      [503, 'SHOAL_ERR_MANAGER_UNREACHABLE'],
      [404, 'SHOAL_ERR_INTERNAL'],
      [401, 'SHOAL_ERR_UNAUTHENTICATED'],
    ];
    for (const [http, code] of cases) {
      const fake = await fakeServer(t, (stream) => {
        stream.respond({ ':status': http, 'content-type': 'text/plain' });
        stream.end('no');
      });
      const err = await failure(t, h2Client(t, fake.host).listNetworks());
      t.equal(err.code, code, String(http));
      t.match(err.message, new RegExp(`HTTP status ${http}`));
    }
  });

  await t.test('a stream reset', async (t) => {
    const cases: [string, number, string][] = [
      ['REFUSED_STREAM', h2.NGHTTP2_REFUSED_STREAM, 'SHOAL_ERR_MANAGER_UNREACHABLE'],
      ['INTERNAL_ERROR', h2.NGHTTP2_INTERNAL_ERROR, 'SHOAL_ERR_INTERNAL'],
      ['CANCEL', h2.NGHTTP2_CANCEL, 'SHOAL_ERR_CLOSED'],
    ];
    for (const [what, rst, code] of cases) {
      const fake = await fakeServer(t, (stream) => stream.close(rst));
      t.equal((await failure(t, h2Client(t, fake.host).listNetworks())).code, code, what);
    }
  });

  await t.test('a stream that gets headers and never ends runs into the deadline', async (t) => {
    const fake = await fakeServer(t, (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(frameMessage(new Uint8Array(0)));
    });
    const err = await failure(t, h2Client(t, fake.host, undefined, 200).listNetworks());
    t.equal(err.code, 'SHOAL_ERR_TIMEOUT');
  });

  await t.test('a session the server closed (GOAWAY) is replaced by the next call', async (t) => {
    const swarm = codecFor('Swarm');
    const fake = await fakeServer(t, (stream) => {
      answerOk(stream, swarm.encode({ id: 'c1' }));
      stream.session?.close();
    });
    const conn = new H2Connection(parseHost(fake.host), undefined, 10_000);
    t.teardown(() => conn.close());
    const c = new ManagerClient(conn);
    t.equal((await c.inspectSwarm()).id, 'c1');
    await until(() => !conn.sessionOpen, 10_000, 'the client to see the GOAWAY');
    t.equal((await c.inspectSwarm()).id, 'c1');
    t.equal(fake.sessions(), 2, 'a new session');
  });

  await t.test('a response that is not protobuf is SHOAL_ERR_INTERNAL', async (t) => {
    const fake = await fakeServer(t, (stream) => answerOk(stream, Buffer.from([0xff, 0xff, 0xff])));
    const err = await failure(t, h2Client(t, fake.host).listNetworks());
    t.equal(err.code, 'SHOAL_ERR_INTERNAL');
    t.match(err.message, /cannot decode the Networks\/List response/);
  });
});
