/**
 * Target api: mutated protobuf requests of proto/api.proto, decoded as the API server
 * decodes them (proto.ts serviceDefinition) and dispatched through its handler table
 * (api-server.ts, the local socket's access) to the manager's control, over a real SQLite
 * store in a temporary directory with an initialised cluster. About 1 input in 64 goes
 * instead through a real manager's API server on its unix socket, as raw HTTP/2 with gRPC
 * framing (a length prefix that may lie, the compressed flag, several messages).
 *
 * An input is a method byte (index into UNARY_METHODS), a mode byte (odd: the real server)
 * and the request bytes.
 *
 * Invariant: every reply is a response that encodes and decodes as its type, or an API
 * error carrying a stable SHOAL_ERR_* code that is not SHOAL_ERR_INTERNAL (over the socket:
 * a gRPC status with the code in the trailers; framing that breaks gRPC itself, a lying
 * length prefix, the compressed flag, two messages for a unary call, is refused by grpc-js
 * before our handler runs, with its own status); nothing is logged as an internal failure;
 * and every 250 inputs the store holds together: every endpoint's network exists and its
 * addresses are allocated there, its owner (task, container, service, node) exists, no
 * address is held twice, every allocated address
 * belongs to an endpoint (or is the gateway or reserved), and every IPAM record has its network.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultContainerSpec, defaultNetworkSpec, defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import { ERROR_CODE_METADATA } from '../../../src/api/errors.ts';
import { frameMessage } from '../../../src/api/grpc-wire.ts';
import { codecFor, type MethodInfo, methodsOf, serviceDefinition } from '../../../src/api/proto.ts';
import { FakeClock } from '../../../src/common/clock.ts';
import { asShoalError } from '../../../src/common/errors.ts';
import { type Logger, silentLogger } from '../../../src/common/logger.ts';
import { createRng, type Rng } from '../../../src/common/rng.ts';
import { restoreAddressSpace } from '../../../src/ipam/index.ts';
import { ApiServer } from '../../../src/manager/api-server.ts';
import { initCluster } from '../../../src/manager/cluster.ts';
import { type ManagerConfig, resolveManagerConfig } from '../../../src/manager/config.ts';
import { ManagerControl } from '../../../src/manager/control.ts';
import { startManager, type RunningManager } from '../../../src/manager/manager.ts';
import { type Kinds, MANAGER_SCHEMA } from '../../../src/manager/objects.ts';
import { Dispatcher } from '../../../src/manager/session.ts';
import { SqliteStore } from '../../../src/manager/sqlite-store.ts';
import { readyNode } from '../../support/manager-harness.ts';
import type { FuzzInstance, FuzzTarget } from '../harness.ts';
import { fail, seedOfInput } from '../harness.ts';
import { concat, mutateBytes, mutatePb } from '../mutate.ts';

const LOCAL_SERVICES = ['Networks', 'Services', 'Containers', 'Runtime', 'Nodes', 'SwarmControl'] as const;

/** Every unary method of the local socket's services, in a stable order (the method byte indexes it). */
export const UNARY_METHODS: readonly MethodInfo[] = LOCAL_SERVICES.flatMap((s) => methodsOf(s))
  .filter((m) => !m.requestStream && !m.responseStream)
  .sort((a, b) => (a.path < b.path ? -1 : 1));

const REAL_SHARE = 64;
const CHECK_EVERY = 250;
/** Inputs a store takes before it is replaced by a fresh one (bounds its size). */
const STORE_LIFETIME = 20_000;
const CALL_DEADLINE_MS = 10_000;
const CODE = /^SHOAL_ERR_[A-Z0-9_]+$/;

type Callback = (err: { code?: number; details?: string; metadata?: { get(k: string): unknown[] } } | null, res?: unknown) => void;
type Impl = Record<string, (call: { request: unknown; getAuthContext(): null }, cb: Callback) => void>;

interface Core {
  dir: string;
  store: SqliteStore<Kinds>;
  control: ManagerControl;
  dispatcher: Dispatcher;
  config: ManagerConfig;
  impl: Map<string, Impl>;
  inputs: number;
}

function countingLogger(errors: string[]): Logger {
  const logger: Logger = {
    ...silentLogger,
    error: (obj: object, msg?: string) => void errors.push(`${msg ?? ''}: ${String((obj as { err?: unknown }).err ?? '')}`),
    child: () => logger,
  };
  return logger;
}

async function openCore(errors: string[]): Promise<Core> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-fuzz-api-'));
  const config = resolveManagerConfig({ dataDir: dir, listenAddr: '127.0.0.1:2377', advertiseAddr: '127.0.0.1' });
  const clock = new FakeClock();
  const logger = countingLogger(errors);
  const store = new SqliteStore<Kinds>(join(dir, 'manager.db'), MANAGER_SCHEMA);
  const control = new ManagerControl({ store, clock, config, logger }, config);
  const dispatcher = new Dispatcher({ control, config, clock, logger });
  await initCluster(control, config, '127.0.0.1:2377');
  // two ready workers, so that services get tasks and tasks get addresses
  await readyNode(control, 'worker-1', '192.0.2.11');
  await readyNode(control, 'worker-2', '192.0.2.12');
  const swarm = await control.inspectSwarm();
  // the server's handler table, as the local socket serves it (nothing is bound)
  const server = new ApiServer({
    control,
    dispatcher,
    logger,
    socketPath: join(dir, 'unused.sock'),
    listenAddr: '127.0.0.1:0',
    tls: { caPem: '', certPem: '', keyPem: '' },
    clusterId: swarm.id,
  });
  const handlers = (server as unknown as { handlers(s: string, a: string): Impl }).handlers.bind(server);
  const impl = new Map(LOCAL_SERVICES.map((s) => [s, handlers(s, 'local')]));
  return { dir, store, control, dispatcher, config, impl, inputs: 0 };
}

function closeCore(c: Core): void {
  c.dispatcher.close();
  c.control.close();
  c.store.close();
  rmSync(c.dir, { recursive: true, force: true });
}

/** Valid requests for the seed corpus, by method path. */
function seedRequests(): [string, unknown][] {
  const svc = defaultServiceSpec('web');
  svc.networks = [{ target: 'front', aliases: ['www'] }];
  svc.endpointSpec = { mode: 'vip', ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] };
  svc.mode = { replicated: { replicas: 3 } } as typeof svc.mode;
  const dnsrr = defaultServiceSpec('db');
  dnsrr.networks = [{ target: 'back', aliases: [] }];
  dnsrr.endpointSpec = { mode: 'dnsrr', ports: [] };
  const ctr = defaultContainerSpec('box');
  ctr.networks = [{ target: 'front', aliases: ['b'] }];
  const front = {
    ...defaultNetworkSpec('front'),
    attachable: true,
    subnets: [{ subnet: '10.20.0.0/24', gateway: '10.20.0.1', auxAddresses: {} }],
  };
  const back = { ...defaultNetworkSpec('back'), ipv6: true };
  const p = (s: string, m: string): string => `/shoal.api.v1.${s}/${m}`;
  return [
    [p('Networks', 'Create'), { spec: front }],
    [p('Networks', 'Create'), { spec: back }],
    [
      p('Networks', 'Create'),
      { spec: { ...defaultNetworkSpec('tiny'), subnets: [{ subnet: '10.30.0.0/30', auxAddresses: { x: '10.30.0.2' } }] } },
    ],
    [p('Networks', 'List'), { ids: [], names: ['front'], labels: [], driver: '' }],
    [p('Networks', 'Inspect'), { network: 'front' }],
    [p('Networks', 'Remove'), { network: 'tiny' }],
    [p('Networks', 'Connect'), { network: 'back', container: 'box', aliases: ['x'] }],
    [p('Networks', 'Disconnect'), { network: 'front', container: 'box', force: true }],
    [p('Networks', 'Endpoints'), { network: 'front' }],
    [p('Services', 'Create'), { spec: svc }],
    [p('Services', 'Create'), { spec: dnsrr }],
    [p('Services', 'Inspect'), { service: 'web' }],
    [
      p('Services', 'Update'),
      { service: 'web', version: 1, spec: { ...svc, networks: [{ target: 'back', aliases: [] }] }, rollback: false },
    ],
    [p('Services', 'Update'), { service: 'web', version: 0, rollback: true }],
    [p('Services', 'Scale'), { service: 'web', replicas: 5 }],
    [p('Services', 'Scale'), { service: 'db', replicas: 0 }],
    [p('Services', 'Remove'), { service: 'db' }],
    [p('Services', 'Tasks'), { services: ['web'], nodes: [], desiredState: 'running', ids: [] }],
    [p('Containers', 'Run'), { spec: ctr }],
    [p('Containers', 'Inspect'), { container: 'box' }],
    [p('Containers', 'Remove'), { container: 'box', force: true }],
    [p('Nodes', 'List'), {}],
    [p('Nodes', 'Inspect'), { node: 'self' }],
    [p('SwarmControl', 'JoinToken'), { role: 'worker', rotate: true }],
    [p('SwarmControl', 'Inspect'), {}],
    [p('SwarmControl', 'Version'), {}],
    ...UNARY_METHODS.map((m): [string, unknown] => [m.path, {}]),
  ];
}

class ApiInstance implements FuzzInstance {
  readonly checkEvery = CHECK_EVERY;
  private core!: Core;
  private real: { manager: RunningManager; dir: string; session: http2.ClientHttp2Session } | undefined;
  private realError = '';
  private readonly errors: string[] = [];
  private cores = 0;
  private maxEndpoints = 0;
  readonly counts = { ok: 0, apiErrors: 0, unserved: 0, real: 0, realOk: 0, realProtocol: 0, checks: 0 };
  readonly codes = new Map<string, number>();

  async start(): Promise<this> {
    this.core = await openCore(this.errors);
    this.cores++;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'shoal-fuzz-apisrv-'));
      const manager = await startManager({ dataDir: dir, listenAddr: '127.0.0.1:0', advertiseAddr: '127.0.0.1' }, { noSweep: true });
      const session = http2.connect('http://localhost', { createConnection: () => net.connect(manager.paths.socket) });
      session.on('error', () => undefined);
      this.real = { manager, dir, session };
    } catch (err) {
      this.realError = `no real server: ${(err as Error).message}`;
    }
    return this;
  }

  generate(rng: Rng, corpus: readonly Uint8Array[]): Uint8Array {
    const base = corpus[rng.int(corpus.length)]!;
    let method = base[0]!;
    if (rng.int(16) === 0) method = rng.int(UNARY_METHODS.length); // another type's bytes
    const mode = rng.int(REAL_SHARE) === 0 ? 1 : 0;
    const body = base.subarray(2);
    const same = corpus.filter((c) => c[0] === method).map((c) => c.subarray(2));
    const pool = same.length ? same : corpus.map((c) => c.subarray(2));
    const mutated = rng.int(10) === 0 ? body : rng.int(4) === 0 ? mutateBytes(rng, body, pool) : mutatePb(rng, body, pool);
    return concat(Uint8Array.of(method, mode), mutated);
  }

  async run(input: Uint8Array): Promise<void> {
    if (input.length < 2) return;
    const m = UNARY_METHODS[input[0]! % UNARY_METHODS.length]!;
    const body = Buffer.from(input.subarray(2));
    this.core.inputs++;
    if ((input[1]! & 1) === 1 && this.real) {
      await this.runReal(m, body, createRng(seedOfInput(input)));
      return;
    }
    const handler = this.core.impl.get(m.service)![m.name];
    if (!handler) {
      // in api.proto, not served (yet): grpc-js answers UNIMPLEMENTED
      this.counts.unserved++;
      return;
    }
    // decoded as the server decodes it: a request that does not decode becomes a marker
    // the handler answers with SHOAL_ERR_INVALID_ARGUMENT
    const request = this.deserializer(m)(body);
    const reply = await new Promise<{ err: Parameters<Callback>[0]; res: unknown }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${m.path} did not answer within ${CALL_DEADLINE_MS} ms`)), CALL_DEADLINE_MS);
      try {
        handler({ request, getAuthContext: () => null }, (err, res) => {
          clearTimeout(timer);
          resolve({ err, res });
        });
      } catch (err) {
        clearTimeout(timer);
        reject(new Error(`${m.path} threw out of its handler: ${(err as Error)?.stack ?? String(err)}`));
      }
    });
    this.judge(m, reply.err, reply.res);
  }

  private readonly deserializers = new Map<string, (b: Buffer) => unknown>();
  private deserializer(m: MethodInfo): (b: Buffer) => unknown {
    let d = this.deserializers.get(m.path);
    if (!d) {
      d = (serviceDefinition(m.service)[m.name] as { requestDeserialize: (b: Buffer) => unknown }).requestDeserialize;
      this.deserializers.set(m.path, d);
    }
    return d;
  }

  private judge(m: MethodInfo, err: Parameters<Callback>[0], res: unknown): void {
    if (this.errors.length) fail(`${m.path}: logged an internal failure: ${this.errors.splice(0).join('; ')}`);
    if (err) {
      const code = String(err.metadata?.get(ERROR_CODE_METADATA)[0] ?? '');
      if (!CODE.test(code)) fail(`${m.path}: an error without a SHOAL_ERR code (grpc ${err.code}: ${err.details})`);
      if (code === 'SHOAL_ERR_INTERNAL') fail(`${m.path}: internal error: ${err.details}`);
      this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
      this.counts.apiErrors++;
      return;
    }
    try {
      const bytes = codecFor(m.responseType).encodeTrusted(res ?? {});
      codecFor(m.responseType).decode(bytes);
    } catch (e) {
      fail(`${m.path}: the response does not encode as ${m.responseType}: ${asShoalError(e).message}`);
    }
    this.counts.ok++;
  }

  /** One call over the real socket: raw HTTP/2, gRPC framing sometimes broken on purpose. */
  private runReal(m: MethodInfo, body: Buffer, rng: Rng | undefined): Promise<void> {
    const real = this.real!;
    this.counts.real++;
    let payload: Buffer;
    const how = rng ? rng.int(6) : 5;
    const broken = how < 4;
    const served = this.core.impl.get(m.service)![m.name] !== undefined;
    switch (how) {
      case 0: // a length prefix that lies
        payload = Buffer.concat([frameMessage(body).subarray(0, 1), u32(body.length + rng!.int(3) - 1), body]);
        break;
      case 1: // the compressed flag without a compression
        payload = frameMessage(body);
        payload[0] = 1;
        break;
      case 2: // two messages for a unary call
        payload = Buffer.concat([frameMessage(body), frameMessage(body)]);
        break;
      case 3: // cut short
        payload = frameMessage(body).subarray(0, rng!.int(body.length + 5));
        break;
      default:
        payload = frameMessage(body);
    }
    return new Promise<void>((resolve, reject) => {
      const req = real.session.request({
        ':method': 'POST',
        ':path': m.path,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const timer = setTimeout(() => {
        req.close();
        reject(new Error(`${m.path} over the socket did not answer within ${CALL_DEADLINE_MS} ms`));
      }, CALL_DEADLINE_MS);
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => {
        headers = h;
      });
      req.on('trailers', (h) => {
        trailers = h;
      });
      req.on('data', () => undefined);
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`${m.path} over the socket: stream error ${e.message}`));
      });
      req.on('close', () => {
        clearTimeout(timer);
        const all = { ...headers, ...trailers };
        const status = Number(all['grpc-status']);
        const code = String(all[ERROR_CODE_METADATA] ?? '');
        try {
          if (this.errors.length) fail(`${m.path} over the socket: logged an internal failure: ${this.errors.splice(0).join('; ')}`);
          if (status === 0) this.counts.realOk++;
          else if (broken || (!served && status === 12))
            this.counts.realProtocol++; // grpc-js refused the framing itself
          else if (!CODE.test(code) || code === 'SHOAL_ERR_INTERNAL')
            fail(
              `${m.path} over the socket: grpc status ${status} (${decodeURIComponent(String(all['grpc-message'] ?? ''))}) with code '${code}'`,
            );
          else this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
      req.end(payload);
    });
  }

  async check(): Promise<void> {
    this.counts.checks++;
    const errs = storeProblems(this.core.store, this.core.config);
    this.maxEndpoints = Math.max(
      this.maxEndpoints,
      this.core.store.view((tx) => tx.all('endpoint').length),
    );
    if (errs.length) fail(`store invariants: ${errs.slice(0, 5).join('; ')}`);
    // the core still works: a network can be created and removed
    const name = `probe${this.counts.checks}`;
    const n = await this.core.control.createNetwork({ ...defaultNetworkSpec(name), attachable: true });
    await this.core.control.removeNetwork(n.id);
    if (this.real) {
      // the real server still answers a valid call
      const version = UNARY_METHODS.find((x) => x.path === '/shoal.api.v1.SwarmControl/Version')!;
      const before = this.counts.realOk;
      await this.runReal(version, Buffer.alloc(0), undefined);
      if (this.counts.realOk !== before + 1) fail('the real server did not answer a valid Version call');
    }
    if (this.core.inputs >= STORE_LIFETIME) {
      closeCore(this.core);
      this.core = await openCore(this.errors);
      this.cores++;
    }
  }

  summary(): string {
    const c = this.counts;
    const top = [...this.codes.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, v]) => `${k.replace('SHOAL_ERR_', '')} ${v}`)
      .join(', ');
    return (
      `ok ${c.ok}, API errors ${c.apiErrors} (${top}), not served ${c.unserved}, over the socket ${c.real} (ok ${c.realOk}, framing refused by grpc-js ${c.realProtocol}), ` +
      `${c.checks} store checks (up to ${this.maxEndpoints} endpoints), ${this.cores} stores${this.realError ? `; ${this.realError}` : ''}`
    );
  }

  async close(): Promise<void> {
    closeCore(this.core);
    if (this.real) {
      this.real.session.destroy();
      this.real.manager.destroy();
      rmSync(this.real.dir, { recursive: true, force: true });
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** What must hold in the store between calls (no half-applied mutation). */
export function storeProblems(store: SqliteStore<Kinds>, config: ManagerConfig): string[] {
  const problems: string[] = [];
  store.view((tx) => {
    const networks = new Map(tx.all('network').map((n) => [n.id, n]));
    const ipam = tx.all('ipam');
    for (const r of ipam) if (!networks.has(r.id)) problems.push(`IPAM state of a network that does not exist (${r.id} ${r.name})`);
    for (const n of networks.values()) {
      if (n.spec.driver === 'overlay' && !ipam.some((r) => r.id === n.id)) problems.push(`network ${n.spec.name} has no IPAM state`);
    }
    const space = restoreAddressSpace(
      { defaultAddrPools: config.defaultAddrPools, defaultAddrPoolMaskLength: config.defaultAddrPoolMaskLength },
      ipam.map((r) => ({ id: r.id, name: r.name, state: r.state })),
    );
    const held = new Map<string, string>();
    const owners: Record<string, (id: string) => boolean> = {
      task: (id) => tx.get('task', id) !== undefined,
      container: (id) => tx.get('container', id) !== undefined,
      vip: (id) => tx.get('service', id) !== undefined,
      'node-ingress': (id) => tx.get('node', id) !== undefined,
    };
    for (const e of tx.all('endpoint')) {
      const owned = owners[e.kind];
      if (!owned) problems.push(`endpoint ${e.id} of unknown kind ${e.kind}`);
      else if (!owned(e.ownerId)) problems.push(`endpoint ${e.id} (${e.kind}) of ${e.ownerId}, which does not exist`);
      if (!networks.has(e.networkId)) {
        problems.push(`endpoint ${e.id} (${e.kind} of ${e.ownerId}) on a network that does not exist (${e.networkId})`);
        continue;
      }
      const net = space.get(e.networkId);
      for (const a of [e.addr, e.addrV6]) {
        if (!a) continue;
        const ip = a.split('/')[0]!;
        const key = `${e.networkId} ${ip}`;
        const other = held.get(key);
        if (other) problems.push(`${ip} on ${e.networkId} held by ${other} and ${e.kind} ${e.ownerId}`);
        held.set(key, `${e.kind} ${e.ownerId}`);
        const status = net?.status(ip);
        if (status !== 'allocated') problems.push(`${ip} of ${e.kind} ${e.ownerId} is ${status} in ${e.networkId}'s IPAM`);
      }
    }
    for (const n of space.networks()) {
      for (const ip of (n as unknown as { allocatedAddresses(): Iterable<string> }).allocatedAddresses()) {
        if (!held.has(`${n.id} ${ip}`)) problems.push(`${ip} is allocated on ${n.name} but no endpoint holds it`);
      }
    }
  });
  return problems;
}

export const api: FuzzTarget = {
  name: 'api',
  description: 'gRPC API requests decoded and dispatched to the manager control on a real SQLite store; some over the unix socket',
  seeds: () =>
    seedRequests().map(([path, req]) => {
      const i = UNARY_METHODS.findIndex((m) => m.path === path);
      if (i < 0) throw new Error(`no unary method ${path}`);
      return concat(Uint8Array.of(i, 0), codecFor(UNARY_METHODS[i]!.requestType).encode(req));
    }),
  open: () => new ApiInstance().start(),
};
