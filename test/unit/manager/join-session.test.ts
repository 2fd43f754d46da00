// AgentSession.reportJoined through the manager's real mTLS listener on loopback: the
// caller passes the full set of endpoints its load balancers send new connections to, and
// the session sends only what joined since the previous set (an endpoint that left and came
// back is sent again), in reports without task updates; after a (re)connect it sends again
// those that joined within the last JOIN_ACK_RESEND_MS, and those never sent, not the rest.
// The session's clock is the system clock shifted by the test, so "30 s later" takes no time.
import t from 'tap';
import type { AgentReport } from '../../../src/api/api-types.ts';
import { AgentSession, JOIN_ACK_RESEND_MS } from '../../../src/agent/session-client.ts';
import { connectManager } from '../../../src/api/client.ts';
import { SystemClock } from '../../../src/common/clock.ts';
import { startManager } from '../../../src/manager/manager.ts';
import type { RunningManager } from '../../../src/manager/manager.ts';
import { joinNode, tempDir, until } from '../../support/manager-harness.ts';
import { freePort } from '../../support/net.ts';

class ShiftedClock extends SystemClock {
  offset = 0;
  override now(): number {
    return super.now() + this.offset;
  }
}

/** The joined IDs of every report a manager receives (one list per report that had any). */
function recordJoins(m: RunningManager): { reports: AgentReport[]; joined: string[][] } {
  const reports: AgentReport[] = [];
  const joined: string[][] = [];
  const report = m.dispatcher.report.bind(m.dispatcher);
  m.dispatcher.report = (nodeId, r) => {
    reports.push(r);
    if (r.joinedEndpointIds.length > 0) joined.push([...r.joinedEndpointIds].sort());
    return report(nodeId, r);
  };
  return { reports, joined };
}

t.test('reportJoined sends what joined since the last set, and after a reconnect what joined recently', async (t) => {
  const dataDir = tempDir(t, 'shoal-join-');
  const port = await freePort();
  const input = { dataDir, listenAddr: `127.0.0.1:${port}`, advertiseAddr: '127.0.0.1' };
  let m: RunningManager = await startManager(input, { noSweep: true });
  t.teardown(() => m.destroy());
  let seen = recordJoins(m);
  const client = connectManager({ dataDir, env: {}, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const { identity, dataDir: agentDir } = await joinNode(t, { client, managerAddr: m.managerAddr }, 'h1');
  const clock = new ShiftedClock();
  const session = new AgentSession({
    identity,
    advertiseAddr: '127.0.0.1',
    dataDir: agentDir,
    clock,
    reconnectMinMs: 50,
    reconnectMaxMs: 300,
  });
  t.teardown(() => session.close());
  const node = identity.nodeId;

  // before the first connect: kept, and sent once the session is up
  session.reportJoined(['a', 'b']);
  session.start();
  await until(() => seen.joined.length > 0 || undefined, 30_000, 'the first joins');
  t.same(seen.joined, [['a', 'b']], 'what joined before the session was up, sent on connect');

  session.reportJoined(['a', 'b', 'c']);
  await until(() => seen.joined.length > 1 || undefined, 30_000, 'c');
  t.same(seen.joined[1], ['c'], 'only what is new');
  const withC = seen.reports.find((r) => r.joinedEndpointIds.includes('c'));
  t.match(withC, { heartbeat: false, tasks: [], containers: [], drainedEndpointIds: [] }, 'in a report of its own');
  session.reportJoined(['c', 'b', 'a', 'a']);
  session.reportJoined(['b', 'c']);
  session.reportJoined(['a', 'b', 'c']);
  await until(() => seen.joined.length > 2 || undefined, 30_000, 'a again');
  t.same(seen.joined[2], ['a'], 'the same set sends nothing; a left and came back: sent again');
  await until(() => m.control.joinTracker.acknowledgedBy('a').includes(node) || undefined, 30_000, 'the manager to keep it');
  t.same(m.control.joinTracker.acknowledgedBy('c'), [node], 'kept by the manager for this node');

  // 31 s later d joins; a, b and c joined long ago
  clock.offset += JOIN_ACK_RESEND_MS + 1000;
  session.reportJoined(['a', 'b', 'c', 'd']);
  await until(() => seen.joined.length > 3 || undefined, 30_000, 'd');
  t.same(seen.joined[3], ['d']);

  // the manager restarts: only d is sent again
  m.destroy();
  await until(() => !session.connected || undefined, 30_000, 'the session to notice the manager is gone');
  m = await startManager(input, { noSweep: true });
  seen = recordJoins(m);
  await until(() => session.connected || undefined, 30_000, 'the session to reconnect');
  await until(() => seen.joined.length > 0 || undefined, 30_000, 'the resent joins');
  t.same(seen.joined, [['d']], 'what joined within JOIN_ACK_RESEND_MS, not everything');
  t.same(m.control.joinTracker.acknowledgedBy('a'), [], 'the restarted manager does not hear of a');

  // e joins while the manager is away, and reaches the next one however long that takes
  m.destroy();
  await until(() => !session.connected || undefined, 30_000, 'the session to notice the manager is gone again');
  session.reportJoined(['a', 'b', 'c', 'd', 'e']);
  clock.offset += JOIN_ACK_RESEND_MS + 1000;
  m = await startManager(input, { noSweep: true });
  seen = recordJoins(m);
  await until(() => seen.joined.length > 0 || undefined, 30_000, 'the joins after the second restart');
  t.same(seen.joined, [['e']], 'never sent: sent now, old as it is; d is too old to resend');
  await until(() => m.control.joinTracker.acknowledgedBy('e').includes(node) || undefined, 30_000, 'the manager to keep e');
});
