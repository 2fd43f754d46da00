import t from 'tap';
import {
  normalizeContainerSpec,
  normalizeNetworkSpec,
  normalizeNodeSpec,
  normalizeServiceSpec,
} from '../../../src/manager/spec-validation.ts';
import { defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import { resolveManagerConfig } from '../../../src/manager/config.ts';
import { parseHost, resolveHost } from '../../../src/api/manager-target.ts';

t.test('empty fields get Docker defaults', async (t) => {
  const s = normalizeServiceSpec({ name: 'web' } as never);
  t.same(s.mode, { replicated: { replicas: 1 } });
  t.same(s.endpointSpec, { mode: 'vip', ports: [] });
  t.same(s.taskTemplate.restartPolicy, { condition: 'any', delayMs: 5000, maxAttempts: 0 });
  t.equal(s.taskTemplate.stopGracePeriodMs, 10_000);
  const docker = { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5000, maxFailureRatio: 0, order: 'stop-first' };
  t.same(s.updateConfig, docker, "Docker's --update-* defaults");
  t.same(s.rollbackConfig, docker, "Docker's --rollback-* defaults");
  const wire = normalizeServiceSpec({
    name: 'web',
    updateConfig: { parallelism: 2, delayMs: 0, failureAction: '', order: '', maxFailureRatio: 0 },
  } as never);
  t.same(wire.updateConfig, { ...docker, parallelism: 2 }, 'empty strings and an absent monitor (from the wire) are defaults');
  t.same(normalizeServiceSpec(s), s, 'normalising twice changes nothing');
  const p = normalizeServiceSpec({
    ...defaultServiceSpec('web'),
    endpointSpec: { mode: '', ports: [{ name: '', protocol: '', targetPort: 80, publishMode: '' }] },
  });
  t.same(p.endpointSpec.ports, [{ name: '', protocol: 'tcp', targetPort: 80, publishMode: 'ingress' }]);
  t.same(normalizeNetworkSpec({ name: 'n' } as never).driver, 'overlay');
  t.same(normalizeNodeSpec({}), { name: '', labels: {}, role: 'worker', availability: 'active' });
  t.same(normalizeContainerSpec({}).networks, []);
  t.same(normalizeContainerSpec({}).dns, [], 'a container spec from before dns existed: none');
  t.same(normalizeContainerSpec({ dns: ['192.0.2.53'], dnsSearch: ['example.org'], dnsOptions: ['ndots:2'] }).dnsOptions, ['ndots:2']);
  t.throws(() => normalizeContainerSpec({ dns: ['resolver.example'] }), { code: 'SHOAL_ERR_BAD_SPEC', message: /not an IP address/ });
});

t.test("every problem is reported at once, with the first one's code", async (t) => {
  const err = t.throws(() =>
    normalizeServiceSpec({
      ...defaultServiceSpec('bad_name'),
      mode: { replicated: { replicas: -2 } },
      endpointSpec: { mode: 'dnsrr', ports: [{ name: '', protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] },
    }),
  ) as unknown as { code: string; message: string; details: { problems: string[] } };
  t.equal(err.code, 'SHOAL_ERR_BAD_NAME');
  t.equal(err.details.problems.length, 3);
  t.match(err.message, /replicas.*>= 0.*dnsrr/s);
});

t.test('manager config: defaults, validation of every field at once', async (t) => {
  const c = resolveManagerConfig({ dataDir: '/d', listenAddr: '192.0.2.1:2377' });
  t.equal(c.advertiseAddr, '192.0.2.1', 'advertise defaults to the listen IP');
  t.ok(Object.isFrozen(c));
  t.throws(() => resolveManagerConfig({ dataDir: '/d' }), { code: 'SHOAL_ERR_INVALID_CONFIG', message: /advertiseAddr/ });
  const err = t.throws(() =>
    resolveManagerConfig({
      dataDir: '',
      listenAddr: 'nope',
      heartbeatPeriodMs: 1000,
      nodeDownAfterMs: 500,
      portRangeStart: 5,
      portRangeEnd: 4,
    }),
  ) as unknown as { details: { problems: string[] } };
  t.ok(err.details.problems.length >= 4, err.details.problems.join(' | '));
});

t.test('hosts in DOCKER_HOST form', async (t) => {
  t.same(parseHost('unix:///var/run/x.sock'), { target: 'unix:///var/run/x.sock', display: 'unix:///var/run/x.sock', secure: false });
  t.same(parseHost('tcp://192.0.2.1:2377'), { target: '192.0.2.1:2377', display: 'tcp://192.0.2.1:2377', secure: true });
  t.same(parseHost('[2001:db8::1]:2377').target, '[2001:db8::1]:2377');
  for (const bad of ['unix://relative', 'tcp://host', 'tcp://1.2.3.4:99999', 'http://x:1'])
    t.throws(() => parseHost(bad), { code: 'SHOAL_ERR_BAD_SPEC' }, bad);
  t.equal(resolveHost({ env: {} }), 'unix:///var/lib/shoal/manager.sock');
  t.equal(resolveHost({ env: { SHOAL_DATA_DIR: '/d' } }), 'unix:///d/manager.sock');
  t.equal(resolveHost({ env: { SHOAL_HOST: 'tcp://192.0.2.1:2377', SHOAL_DATA_DIR: '/d' } }), 'tcp://192.0.2.1:2377');
  t.equal(resolveHost({ host: 'unix:///x', env: { SHOAL_HOST: 'tcp://192.0.2.1:2377' } }), 'unix:///x');
});

t.test('update and rollback configs: bad values are SHOAL_ERR_BAD_SPEC with what is wrong', async (t) => {
  const spec = (updateConfig: object, rollbackConfig: object = {}): never =>
    ({
      ...defaultServiceSpec('web'),
      updateConfig: { ...defaultServiceSpec('web').updateConfig, ...updateConfig },
      rollbackConfig: { ...defaultServiceSpec('web').rollbackConfig, ...rollbackConfig },
    }) as never;
  t.throws(() => normalizeServiceSpec(spec({ order: 'sideways' })), {
    code: 'SHOAL_ERR_BAD_SPEC',
    message: 'update order "sideways" is not stop-first or start-first',
  });
  t.throws(() => normalizeServiceSpec(spec({ failureAction: 'explode' })), {
    code: 'SHOAL_ERR_BAD_SPEC',
    message: 'update failure action "explode" is not pause, continue or rollback',
  });
  t.throws(() => normalizeServiceSpec(spec({}, { failureAction: 'rollback' })), {
    code: 'SHOAL_ERR_BAD_SPEC',
    message: 'rollback failure action "rollback" is not pause or continue',
  });
  t.throws(() => normalizeServiceSpec(spec({ maxFailureRatio: 1.5 })), {
    code: 'SHOAL_ERR_BAD_SPEC',
    message: 'update max failure ratio must be between 0 and 1 (got 1.5)',
  });
  t.throws(() => normalizeServiceSpec(spec({ monitorMs: -1 })), {
    code: 'SHOAL_ERR_BAD_SPEC',
    message: 'update monitor must be >= 0 (got -1)',
  });
  t.throws(() => normalizeServiceSpec(spec({}, { parallelism: -2 })), { message: /rollback parallelism must be >= 0/ });
  const ok = normalizeServiceSpec(spec({ order: 'start-first', failureAction: 'rollback', maxFailureRatio: 0.25, monitorMs: 0 }));
  t.same(ok.updateConfig, {
    parallelism: 1,
    delayMs: 0,
    failureAction: 'rollback',
    monitorMs: 0,
    maxFailureRatio: 0.25,
    order: 'start-first',
  });
});
