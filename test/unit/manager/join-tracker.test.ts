// The join acknowledgements in memory, in virtual time: a new task is joined once every
// node watching one of its networks said its load balancers send new connections to the
// task's endpoint there, or JOIN_ACK_TIMEOUT_MS after it started running (its status
// timestamp), or when nobody watches; a dnsrr task needs nothing. A task found not joined
// is waited for, and its service woken when the acknowledgements complete it or its wait
// runs out (naming the nodes that did not answer).
import t from 'tap';
import type { Test } from 'tap';
import { defaultServiceSpec } from '../../../src/api/api-defaults.ts';
import { FakeClock } from '../../../src/common/clock.ts';
import type { TaskRecord } from '../../../src/manager/objects.ts';
import { JOIN_ACK_RETAIN_MS, JOIN_ACK_TIMEOUT_MS, JoinTracker } from '../../../src/manager/join-tracker.ts';
import type { JoinOutcome, JoinService } from '../../../src/manager/join-tracker.ts';
import type { ChangeBatch } from '../../../src/manager/store.ts';

const vip: JoinService = { spec: { endpointSpec: { mode: 'vip', ports: [] } } };
const dnsrr: JoinService = { spec: { endpointSpec: { mode: 'dnsrr', ports: [] } } };

/** Who watches which network, set by the test. */
class Watchers {
  readonly nets = new Map<string, Set<string>>();
  set(networkId: string, nodes: string[]): void {
    this.nets.set(networkId, new Set(nodes));
  }
  nodesWatching(networkId: string): ReadonlySet<string> {
    return this.nets.get(networkId) ?? new Set();
  }
}

function setup(t: Test): { clock: FakeClock; watchers: Watchers; tracker: JoinTracker; woken: JoinOutcome[] } {
  const clock = new FakeClock();
  const watchers = new Watchers();
  const woken: JoinOutcome[] = [];
  const tracker = new JoinTracker({ clock, onWake: (o) => woken.push(o) });
  tracker.attachWatchers(watchers);
  t.teardown(() => tracker.close());
  return { clock, watchers, tracker, woken };
}

/** A task of service svc with one endpoint per network (`ep-<task>-<network>`), running since `sinceMs` (wall). */
function task(id: string, networkIds: string[], sinceMs: number, state = 'running', health = ''): TaskRecord {
  return {
    id,
    version: 1,
    createdAt: new Date(sinceMs).toISOString(),
    updatedAt: new Date(sinceMs).toISOString(),
    serviceId: 'svc',
    serviceName: 'web',
    slot: 1,
    nodeId: 'n1',
    desiredState: 'running',
    status: { state, message: '', err: '', timestamp: new Date(sinceMs).toISOString(), exitCode: 0, health },
    spec: defaultServiceSpec('web').taskTemplate,
    networks: networkIds.map((n) => ({ networkId: n, networkName: n, addresses: [], mac: '', aliases: [], endpointId: `ep-${id}-${n}` })),
    specVersion: 1,
    name: `web.1.${id}`,
    hostPorts: [],
    drained: false,
  };
}

function batch(...events: ChangeBatch['events']): ChangeBatch {
  return { revision: 1, events };
}

t.test('acknowledgements of every watching node complete a task and wake its service', async (t) => {
  const { clock, watchers, tracker, woken } = setup(t);
  watchers.set('front', ['n1', 'n2']);
  watchers.set('back', ['n2', 'n3']);
  const x = task('x', ['front', 'back'], clock.wallNow());
  t.equal(tracker.joined(x, vip), false, 'nobody acknowledged yet');
  t.same(tracker.pendingNodes(x), ['n1', 'n2', 'n3']);
  tracker.await(x, vip);
  t.equal(tracker.isWaiting('x'), true);

  t.same(tracker.acknowledge('n1', ['ep-x-front']), [], 'n1 watches front only: done with it');
  t.same(tracker.acknowledge('n2', ['ep-x-front']), [], 'n2 watches back too');
  t.same(tracker.acknowledge('n3', ['ep-x-front', 'unknown']), [], "n3's acknowledgement of front is not the one it owes");
  t.same(tracker.pendingNodes(x), ['n2', 'n3']);
  t.same(tracker.acknowledge('n2', ['ep-x-back']), []);
  clock.advance(JOIN_ACK_TIMEOUT_MS / 2);
  t.same(tracker.acknowledge('n3', ['ep-x-back']), [{ taskId: 'x', serviceId: 'svc', missing: [] }], 'the last one completes the wait');
  t.equal(tracker.joined(x, vip), true);
  t.equal(tracker.waiting, 0, 'nothing waits any more');
  clock.advance(JOIN_ACK_TIMEOUT_MS);
  t.same(woken, [], 'no timer fires for a completed wait (the caller wakes the service)');
});

t.test('a node that does not answer: the wait runs out JOIN_ACK_TIMEOUT_MS after the task started running, naming it', async (t) => {
  const { clock, watchers, tracker, woken } = setup(t);
  watchers.set('front', ['n1', 'n2']);
  const since = clock.wallNow();
  clock.advance(3000);
  const x = task('x', ['front'], since);
  tracker.acknowledge('n1', ['ep-x-front']);
  t.equal(tracker.joined(x, vip), false);
  tracker.await(x, vip);
  tracker.await(x, vip);
  clock.advance(JOIN_ACK_TIMEOUT_MS - 3000 - 1);
  t.same(woken, [], 'not before the timeout, counted from the status timestamp');
  clock.advance(1);
  t.same(woken, [{ taskId: 'x', serviceId: 'svc', missing: ['n2'] }], 'woken once, with the node that did not answer');
  t.equal(tracker.joined(x, vip, since), true, 'joined from then on, whatever the clock a caller passes');
  t.equal(tracker.waiting, 0);
  tracker.await(x, vip);
  clock.advance(JOIN_ACK_TIMEOUT_MS * 3);
  t.equal(woken.length, 2, 'a task asked for again after it ran out wakes at once, and logs nothing');
  t.same(woken[1], { taskId: 'x', serviceId: 'svc', missing: [] });

  // a task asked about after its timeout passed (a restarted manager's running tasks) is joined without a wait
  const old = task('old', ['front'], clock.wallNow() - JOIN_ACK_TIMEOUT_MS);
  t.equal(tracker.joined(old, vip), true, 'running for longer than the timeout');
  t.equal(tracker.joined(task('young', ['front'], clock.wallNow() - JOIN_ACK_TIMEOUT_MS + 1), vip), false, 'a newer one waits');
});

t.test('dnsrr tasks, networks nobody watches and tasks without endpoints need no acknowledgement', async (t) => {
  const { clock, watchers, tracker, woken } = setup(t);
  watchers.set('front', ['n1']);
  const now = clock.wallNow();
  const d = task('d', ['front'], now);
  t.equal(tracker.joined(d, dnsrr), true, 'dnsrr: in no load balancer');
  tracker.await(d, dnsrr);
  t.equal(tracker.waiting, 0, 'and never waited for');
  t.equal(tracker.joined(task('q', ['quiet'], now), vip), true, 'nobody watches its network');
  t.equal(tracker.joined(task('none', [], now), vip), true, 'no endpoints');
  t.equal(tracker.joined(task('s', ['front'], now, 'assigned'), vip), false, 'not running: not joined');
  tracker.attachWatchers(undefined);
  t.equal(tracker.joined(task('y', ['front'], now), vip), true, 'no watch hub: nobody watches');
  clock.advance(JOIN_ACK_TIMEOUT_MS * 2);
  t.same(woken, []);
});

t.test('acknowledgements that arrive before the manager sees the task running count', async (t) => {
  const { clock, watchers, tracker } = setup(t);
  watchers.set('front', ['n1', 'n2']);
  const x = task('x', ['front'], clock.wallNow(), 'assigned');
  t.same(tracker.acknowledge('n1', ['ep-x-front']), []);
  t.same(tracker.acknowledge('n2', ['ep-x-front']), []);
  t.equal(tracker.joined(x, vip), false, 'not running yet');
  clock.advance(1500);
  const running = { ...x, status: { ...x.status, state: 'running', timestamp: new Date(clock.wallNow()).toISOString() } };
  tracker.onCommit(batch({ kind: 'task', id: 'x', op: 'put', object: running }));
  t.equal(tracker.joined(running, vip), true, 'running: joined at once, from the earlier acknowledgements');
  t.same(tracker.acknowledgedBy('ep-x-front'), ['n1', 'n2']);
});

t.test('a deleted endpoint is forgotten, and a wait it held looks again at what is left', async (t) => {
  const { clock, watchers, tracker, woken } = setup(t);
  watchers.set('front', ['n1']);
  watchers.set('back', ['n2']);
  const x = task('x', ['front', 'back'], clock.wallNow());
  tracker.acknowledge('n1', ['ep-x-front']);
  tracker.await(x, vip);
  t.same(tracker.acknowledgedBy('ep-x-front'), ['n1']);
  // the service left network back: the task's endpoint there is deleted
  tracker.onCommit(batch({ kind: 'endpoint', id: 'ep-x-back', op: 'delete' }));
  t.same(woken, [], 'not inside the commit');
  clock.advance(0);
  t.same(woken, [{ taskId: 'x', serviceId: 'svc', missing: [] }], 'front was acknowledged: done');

  tracker.onCommit(batch({ kind: 'endpoint', id: 'ep-x-front', op: 'delete' }));
  t.same(tracker.acknowledgedBy('ep-x-front'), [], 'its acknowledgements went with it');
  t.equal(tracker.acknowledgedEndpoints, 0);
});

t.test('a wait ends when its task stops running or its status changes; an unhealthy task loses its acknowledgements', async (t) => {
  const { clock, watchers, tracker, woken } = setup(t);
  watchers.set('front', ['n1', 'n2']);
  const x = task('x', ['front'], clock.wallNow());
  tracker.await(x, vip);
  tracker.onCommit(batch({ kind: 'task', id: 'x', op: 'put', object: { ...x, desiredState: 'shutdown' } }));
  t.equal(tracker.isWaiting('x'), false, 'shut down: no wait');

  const y = task('y', ['front'], clock.wallNow());
  tracker.acknowledge('n1', ['ep-y-front']);
  tracker.await(y, vip);
  clock.advance(2000);
  const sick = { ...y, status: { ...y.status, health: 'unhealthy', timestamp: new Date(clock.wallNow()).toISOString() } };
  tracker.onCommit(batch({ kind: 'task', id: 'y', op: 'put', object: sick }));
  t.equal(tracker.isWaiting('y'), false, 'a new status ends the wait (the scheduler asks again)');
  t.same(tracker.acknowledgedBy('ep-y-front'), [], 'unhealthy: out of the load balancers, acknowledgements dropped');
  clock.advance(JOIN_ACK_TIMEOUT_MS * 2);
  t.same(woken, [], 'no timer left behind');

  const z = task('z', ['front'], clock.wallNow());
  tracker.await(z, vip);
  tracker.onCommit(batch({ kind: 'task', id: 'z', op: 'delete' }));
  t.equal(tracker.waiting, 0, 'deleted: no wait');
});

t.test('acknowledgements no wait holds are dropped JOIN_ACK_RETAIN_MS after the latest', async (t) => {
  const { clock, watchers, tracker, woken } = setup(t);
  watchers.set('front', ['n1', 'n2']);
  tracker.acknowledge('n1', ['ep-a-front', 'ep-b-front', 'ep-c-front']);
  clock.advance(JOIN_ACK_RETAIN_MS / 2);
  tracker.acknowledge('n2', ['ep-a-front']);
  clock.advance(JOIN_ACK_RETAIN_MS / 2 - 5000);
  // b starts running long after n1 acknowledged it, and waits for n2
  const b = task('b', ['front'], clock.wallNow());
  tracker.await(b, vip);
  clock.advance(5000);
  t.same(tracker.acknowledgedBy('ep-c-front'), [], 'c: nothing for a minute, dropped');
  t.same(tracker.acknowledgedBy('ep-b-front'), ['n1'], 'b: as old, but held by its wait');
  t.same(tracker.acknowledgedBy('ep-a-front'), ['n1', 'n2'], 'a: acknowledged again since');
  clock.advance(5000);
  t.same(woken, [{ taskId: 'b', serviceId: 'svc', missing: ['n2'] }]);
  clock.advance(JOIN_ACK_RETAIN_MS);
  t.equal(tracker.acknowledgedEndpoints, 0, 'all gone once old and unheld');
});
