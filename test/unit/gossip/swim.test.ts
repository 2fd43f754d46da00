// The SWIM state machine alone: events in, effects out, no clock or sockets.
import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { defaultLocalConfig, suspicionMaxMs, suspicionMinMs, validateGossipConfig } from '../../../src/gossip/config.ts';
import { createSwimState, nextWake, step, type SwimEffect, type SwimState } from '../../../src/gossip/swim.ts';
import type { GossipMessage, MemberStateWire } from '../../../src/gossip/messages.ts';

const config = validateGossipConfig({ indirectChecks: 2 }, defaultLocalConfig());
const INC = 1000;

function fresh(names: string[] = ['b', 'c', 'd']): SwimState {
  const s = createSwimState({ name: 'a', addr: 'A', config, rng: createRng(1), now: 0, incarnation: INC });
  const members: MemberStateWire[] = names.map((n) => ({ node: n, addr: n.toUpperCase(), incarnation: INC, status: 'alive' }));
  step(s, { type: 'push-pull', from: 'B', sender: 'b', members, weJoined: true }, 0);
  return s;
}

function sends(effects: SwimEffect[]): Array<{ to: string; messages: GossipMessage[] }> {
  return effects.flatMap((e) => (e.type === 'send' ? [{ to: e.to, messages: e.messages }] : []));
}

function events(effects: SwimEffect[]): string[] {
  return effects.flatMap((e) => (e.type === 'member' ? [`${e.event.kind}:${e.event.member.name}`] : []));
}

/** Runs ticks until `until`, collecting effects. */
function runTo(s: SwimState, until: number, now = { t: 0 }): SwimEffect[] {
  const out: SwimEffect[] = [];
  for (;;) {
    const w = Math.max(nextWake(s), now.t);
    if (w > until) break;
    now.t = w;
    out.push(...step(s, { type: 'tick' }, w));
  }
  now.t = until;
  return out;
}

t.test('a probe answered by an ack keeps the member alive and lowers nothing', async (t) => {
  const s = fresh(['b']);
  const clock = { t: 0 };
  const eff = runTo(s, s.nextProbeAt, clock);
  const ping = sends(eff).find((x) => x.messages.some((m) => m.kind === 'ping'));
  t.ok(ping, 'a ping went out');
  t.equal(ping!.to, 'B');
  const seq = (ping!.messages.find((m) => m.kind === 'ping') as { seq: number }).seq;
  step(s, { type: 'packet', from: 'B', sender: 'b', messages: [{ kind: 'ack', seq }] }, clock.t + 1);
  t.equal(s.probe, undefined, 'probe complete');
  t.equal(s.members.get('b')!.state, 'alive');
  t.equal(s.awareness, 0);
});

t.test('a silent target: indirect probes, then suspicion; missed nacks raise local health', async (t) => {
  const s = fresh(['b', 'c', 'd']);
  const clock = { t: 0 };
  runTo(s, s.nextProbeAt, clock);
  const target = s.probe!.target;
  const eff = runTo(s, s.probe!.ackDeadline, clock);
  const indirect = sends(eff).filter((x) => x.messages.some((m) => m.kind === 'indirect-ping'));
  t.equal(indirect.length, 2, 'indirectChecks helpers asked');
  t.ok(
    indirect.every((x) => x.to !== target.toUpperCase()),
    'never the target itself',
  );
  const verdict = runTo(s, s.probe!.deadline, clock);
  t.same(events(verdict), [`suspected:${target}`]);
  t.equal(s.members.get(target)!.state, 'suspect');
  t.equal(s.awareness, 2, 'two helpers sent no nack: +2');
});

t.test('a helper relays the ack, or nacks when the target stays silent', async (t) => {
  const s = fresh(['b', 'c']);
  const eff = step(
    s,
    {
      type: 'packet',
      from: 'B',
      sender: 'b',
      messages: [{ kind: 'indirect-ping', seq: 77, target: 'c', targetAddr: 'C', wantNack: true }],
    },
    10,
  );
  const ping = sends(eff).find((x) => x.to === 'C')!;
  const relaySeq = (ping.messages[0] as { seq: number }).seq;
  const relayed = step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'ack', seq: relaySeq }] }, 12);
  t.same(
    sends(relayed).map((x) => [x.to, x.messages[0]]),
    [['B', { kind: 'ack', seq: 77 }]],
    'ack relayed to the requester',
  );
  step(
    s,
    {
      type: 'packet',
      from: 'B',
      sender: 'b',
      messages: [{ kind: 'indirect-ping', seq: 78, target: 'c', targetAddr: 'C', wantNack: true }],
    },
    20,
  );
  const nack = runTo(s, 20 + config.probeTimeoutMs, { t: 20 });
  t.ok(
    sends(nack).some((x) => x.to === 'B' && x.messages.some((m) => m.kind === 'nack' && m.seq === 78)),
    'nack after silence',
  );
});

t.test('Lifeguard: a lone accuser waits the maximum, confirmations shorten it', async (t) => {
  const names = Array.from({ length: 9 }, (_, i) => `m${i}`);
  const lone = fresh(names);
  step(lone, { type: 'packet', from: 'M1', sender: 'm1', messages: [{ kind: 'suspect', node: 'm0', incarnation: INC, from: 'm1' }] }, 100);
  const n = 10;
  t.equal(lone.suspicions.get('m0')!.deadline, 100 + suspicionMaxMs(config, n), 'unconfirmed: max timeout');
  const confirmed = fresh(names);
  step(
    confirmed,
    { type: 'packet', from: 'M1', sender: 'm1', messages: [{ kind: 'suspect', node: 'm0', incarnation: INC, from: 'm1' }] },
    100,
  );
  const eff = step(
    confirmed,
    {
      type: 'packet',
      from: 'M2',
      sender: 'm2',
      messages: [
        { kind: 'suspect', node: 'm0', incarnation: INC, from: 'm2' },
        { kind: 'suspect', node: 'm0', incarnation: INC, from: 'm3' },
      ],
    },
    200,
  );
  t.same(events(eff), [], 'confirmations change no state');
  t.equal(confirmed.suspicions.get('m0')!.deadline, 100 + suspicionMinMs(config, n), 'k confirmations: min timeout');
  const expired = runTo(confirmed, 100 + suspicionMinMs(config, n), { t: 200 });
  t.same(
    events(expired).filter((e) => e.endsWith(':m0')),
    ['failed:m0'],
  );
  t.equal(confirmed.members.get('m0')!.state, 'dead');
  t.ok(confirmed.queue.has('m0'), 'the death is gossiped');
});

t.test('refutation: a suspicion of ourselves raises our incarnation and answers the accuser', async (t) => {
  const s = fresh();
  const eff = step(
    s,
    { type: 'packet', from: 'B', sender: 'b', messages: [{ kind: 'suspect', node: 'a', incarnation: INC, from: 'b' }] },
    5,
  );
  t.equal(s.incarnation, INC + 1);
  t.ok(sends(eff).some((x) => x.to === 'B' && x.messages.some((m) => m.kind === 'alive' && m.node === 'a' && m.incarnation === INC + 1)));
  t.equal(s.awareness, 1, 'having to refute counts against our own health');
  step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'dead', node: 'a', incarnation: INC, from: 'c' }] }, 6);
  t.equal(s.incarnation, INC + 1, 'an older accusation needs no new refutation');
  step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'dead', node: 'a', incarnation: INC + 1, from: 'c' }] }, 7);
  t.equal(s.incarnation, INC + 2);
  t.ok(s.settleDelay > 0, 'declared dead by others: push-pull soon to repair our own view');
});

t.test('alive, suspect, dead and left transitions with incarnations', async (t) => {
  const s = fresh();
  let eff = step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'suspect', node: 'b', incarnation: INC, from: 'c' }] }, 1);
  t.same(events(eff), ['suspected:b']);
  eff = step(
    s,
    {
      type: 'packet',
      from: 'B',
      sender: 'b',
      messages: [{ kind: 'alive', node: 'b', addr: 'B', incarnation: INC, protocolMin: 1, protocolMax: 1 }],
    },
    2,
  );
  t.same(events(eff), [], 'an alive at the same incarnation does not clear a suspicion');
  eff = step(
    s,
    {
      type: 'packet',
      from: 'B',
      sender: 'b',
      messages: [{ kind: 'alive', node: 'b', addr: 'B', incarnation: INC + 1, protocolMin: 1, protocolMax: 1 }],
    },
    3,
  );
  t.same(events(eff), ['recovered:b']);
  eff = step(s, { type: 'packet', from: 'D', sender: 'd', messages: [{ kind: 'dead', node: 'd', incarnation: INC, from: 'd' }] }, 4);
  t.same(events(eff), ['left:d'], 'dead from the node itself is a graceful leave');
  eff = step(
    s,
    {
      type: 'packet',
      from: 'C',
      sender: 'c',
      messages: [{ kind: 'alive', node: 'e', addr: 'E', incarnation: 5, protocolMin: 1, protocolMax: 1 }],
    },
    5,
  );
  t.same(events(eff), ['joined:e']);
  eff = step(
    s,
    {
      type: 'packet',
      from: 'C',
      sender: 'c',
      messages: [{ kind: 'alive', node: 'f', addr: 'F', incarnation: 5, protocolMin: 9, protocolMax: 9 }],
    },
    6,
  );
  t.same(events(eff), [], 'a node speaking no version we speak is ignored');
});

t.test('restart under the same name (memberlist#345): stale alive meets the death we hold', async (t) => {
  const s = fresh();
  step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'dead', node: 'b', incarnation: INC + 50, from: 'c' }] }, 1);
  t.equal(s.members.get('b')!.state, 'dead');
  const eff = step(
    s,
    {
      type: 'packet',
      from: 'C',
      sender: 'c',
      messages: [{ kind: 'alive', node: 'b', addr: 'B', incarnation: INC + 1, protocolMin: 1, protocolMax: 1 }],
    },
    2,
  );
  const accusation = sends(eff).find((x) => x.to === 'B');
  t.ok(
    accusation?.messages.some((m) => m.kind === 'dead' && m.node === 'b' && m.incarnation === INC + 50),
    'the accusation goes straight to the restarted node',
  );
  // A death notice about a node we never heard of is remembered and passed on.
  const eff2 = step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'dead', node: 'zz', incarnation: 9, from: 'c' }] }, 3);
  t.same(events(eff2), []);
  t.equal(s.members.get('zz')?.state, 'dead');
  t.ok(s.queue.has('zz'));
  // Higher failure evidence raises the stored incarnation (no resurrection by an older alive).
  step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'dead', node: 'b', incarnation: INC + 60, from: 'c' }] }, 4);
  t.equal(s.members.get('b')!.incarnation, INC + 60);
  const eff3 = step(
    s,
    {
      type: 'packet',
      from: 'B',
      sender: 'b',
      messages: [{ kind: 'alive', node: 'b', addr: 'B', incarnation: INC + 55, protocolMin: 1, protocolMax: 1 }],
    },
    5000,
  );
  t.same(events(eff3), [], 'still dead');
  const eff4 = step(
    s,
    {
      type: 'packet',
      from: 'B',
      sender: 'b',
      messages: [{ kind: 'alive', node: 'b', addr: 'B', incarnation: INC + 61, protocolMin: 1, protocolMax: 1 }],
    },
    5001,
  );
  t.same(events(eff4), ['joined:b'], 'the refutation brings it back');
});

t.test('push-pull: a remote death becomes a local suspicion', async (t) => {
  const s = fresh();
  const eff = step(
    s,
    { type: 'push-pull', from: 'C', sender: 'c', members: [{ node: 'b', addr: 'B', incarnation: INC, status: 'dead' }], weJoined: false },
    1,
  );
  t.same(events(eff), ['suspected:b']);
});

t.test('pings for another name are ignored; pings from a node we hold dead are answered with the news', async (t) => {
  const s = fresh();
  t.same(sends(step(s, { type: 'packet', from: 'X', sender: 'x', messages: [{ kind: 'ping', seq: 1, target: 'someone-else' }] }, 1)), []);
  step(s, { type: 'packet', from: 'C', sender: 'c', messages: [{ kind: 'dead', node: 'b', incarnation: INC, from: 'c' }] }, 2);
  const eff = step(s, { type: 'packet', from: 'B', sender: 'b', messages: [{ kind: 'ping', seq: 2, target: 'a' }] }, 3);
  const to = sends(eff)
    .filter((x) => x.to === 'B')
    .flatMap((x) => x.messages.map((m) => m.kind));
  t.ok(to.includes('ack') && to.includes('dead'));
});

t.test('a graceful leave is gossiped, then reported done', async (t) => {
  const s = fresh(['b', 'c', 'd', 'e']);
  const eff = step(s, { type: 'leave' }, 1);
  t.ok(
    sends(eff).some((x) => x.messages.some((m) => m.kind === 'dead' && m.node === 'a' && m.from === 'a')),
    'leave notice sent at once',
  );
  t.equal(s.status, 'leaving');
  const later = runTo(s, 60_000, { t: 1 });
  t.ok(later.some((e) => e.type === 'left'));
  t.equal(s.status, 'left');
  t.equal(s.probe, undefined, 'no probing once leaving');
  const rejoin = step(s, { type: 'join', seeds: ['B'] }, 60_001);
  t.equal(s.status, 'running');
  t.ok(s.incarnation > INC, 'a rejoin announces a higher incarnation');
  t.ok(rejoin.some((e) => e.type === 'push-pull' && e.join));
});
