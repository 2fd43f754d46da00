// The table state machine alone: inputs in, outputs out. A tiny harness carries the outputs
// of one node to another so anti-entropy can be exercised without a runtime.
import t from 'tap';
import { createRng } from '../../../src/common/rng.ts';
import { defaultLocalConfig, validateGossipConfig } from '../../../src/gossip/config.ts';
import { MemberTable } from '../../../src/gossip/member-table.ts';
import {
  createTablesState,
  listEntries,
  getEntry,
  stepTables,
  type TablesOutput,
  type TablesState,
} from '../../../src/gossip/table-state.ts';
import type { TableEventMsg } from '../../../src/gossip/messages.ts';

const config = validateGossipConfig({ ownerGraceMs: 1_000, ownerReclaimMs: 10_000, tombstoneReapMs: 60_000 }, defaultLocalConfig());
const v = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

function node(name: string, peers: string[], ltime = 1_000_000): TablesState {
  const members = new MemberTable(name);
  members.add({ name, addr: name, incarnation: 1, state: 'alive', since: 0, accusedAt: -Infinity });
  for (const p of peers) members.add({ name: p, addr: p, incarnation: 1, state: 'alive', since: 0, accusedAt: -Infinity });
  return createTablesState({ name, config, rng: createRng(name.length), now: 0, ltime, members });
}

function watches(out: TablesOutput[]): string[] {
  return out.flatMap((o) => (o.type === 'watch' ? [`${o.change.kind}:${o.change.owner}/${o.change.key}=${str(o.change.value)}`] : []));
}

function entry(owner: string, key: string, ltime: number, value = 'x', deleted = false): TableEventMsg {
  return {
    kind: 'table',
    network: 'n',
    table: 't',
    key,
    owner,
    ltime,
    deleted,
    value: deleted ? new Uint8Array(0) : v(value),
    reapInMs: 0,
  };
}

/** Feeds a node's request outputs to their targets until no stream work is left. */
function pump(nodes: Map<string, TablesState>, from: string, outputs: TablesOutput[], now: number): number {
  let streams = 0;
  const queue: Array<[string, TablesOutput]> = outputs.map((o) => [from, o]);
  while (queue.length > 0) {
    const [src, o] = queue.shift()!;
    if (o.type !== 'request') continue;
    const dst = nodes.get(o.to);
    if (!dst) continue; // not part of this test: as if unreachable
    streams++;
    const served = stepTables(
      dst,
      o.body.kind === 'table-sync' ? { type: 'sync-request', body: o.body } : { type: 'fetch-request', body: o.body },
      now,
    );
    const reply = served.find((x) => x.type === 'reply');
    if (!reply || reply.type !== 'reply') continue;
    const back =
      reply.body.kind === 'table-sync-reply'
        ? stepTables(nodes.get(src)!, { type: 'sync-reply', peer: o.to, network: o.body.network, body: reply.body }, now)
        : stepTables(nodes.get(src)!, { type: 'fetch-reply', peer: o.to, network: o.body.network, body: reply.body }, now);
    for (const b of back) queue.push([src, b]);
  }
  return streams;
}

function joined(s: TablesState, ...nodes: string[]): void {
  stepTables(
    s,
    { type: 'messages', messages: nodes.map((n) => ({ kind: 'network' as const, node: n, network: 'n', ltime: 1, joined: true })) },
    0,
  );
}

t.test('a local write is shown, watched and gossiped at once', async (t) => {
  const a = node('a', ['b', 'c']);
  stepTables(a, { type: 'join-network', network: 'n' }, 0);
  joined(a, 'b', 'c');
  const out = stepTables(a, { type: 'set', network: 'n', table: 't', key: 'k', value: v('1') }, 1);
  t.same(watches(out), ['add:a/k=1']);
  t.equal(str(getEntry(a, 'n', 't', 'k', 'a')!.value), '1');
  const round = stepTables(a, { type: 'tick' }, 2); // urgent: the first round does not wait
  t.ok(
    round.some((o) => o.type === 'send' && o.messages.some((m) => m.key === 'k')),
    'sent to peers in the first round',
  );
  t.same(watches(stepTables(a, { type: 'set', network: 'n', table: 't', key: 'k', value: v('2') }, 3)), ['update:a/k=2']);
  t.same(watches(stepTables(a, { type: 'delete', network: 'n', table: 't', key: 'k' }, 4)), ['delete:a/k=2']);
  t.same(watches(stepTables(a, { type: 'delete', network: 'n', table: 't', key: 'k' }, 5)), [], 'deleting nothing is quiet');
});

t.test('versions: newer wins, older is stale, a tombstone blocks a late create', async (t) => {
  const a = node('a', ['b']);
  stepTables(a, { type: 'join-network', network: 'n' }, 0);
  t.same(watches(stepTables(a, { type: 'messages', messages: [entry('b', 'k', 5, 'five')] }, 1)), ['add:b/k=five']);
  t.same(watches(stepTables(a, { type: 'messages', messages: [entry('b', 'k', 4, 'four')] }, 2)), [], 'older ignored');
  t.same(watches(stepTables(a, { type: 'messages', messages: [entry('b', 'k', 7, '', true)] }, 3)), ['delete:b/k=five']);
  t.same(
    watches(stepTables(a, { type: 'messages', messages: [entry('b', 'k', 6, 'six')] }, 4)),
    [],
    'a reordered create before the delete does not resurrect',
  );
  t.equal(a.stats.eventsStale, 2);
  t.same(listEntries(a, 'n', 't'), []);
});

t.test('only members of a network store its tables', async (t) => {
  const a = node('a', ['b']);
  t.same(stepTables(a, { type: 'messages', messages: [entry('b', 'k', 5)] }, 1), []);
  t.equal(a.stats.eventsRefused, 1);
  stepTables(a, { type: 'join-network', network: 'n' }, 2);
  t.same(listEntries(a, 'n', 't'), [], 'nothing was kept from before joining');
});

t.test('an owner that fails: visible through the grace period, hidden, back when it returns, dropped when gone for good', async (t) => {
  const a = node('a', ['b']);
  stepTables(a, { type: 'join-network', network: 'n' }, 0);
  stepTables(a, { type: 'messages', messages: [entry('b', 'k', 5, 'ep')] }, 1);
  const rec = a.members.get('b')!;
  a.members.setState(rec, 'dead', 100);
  t.same(
    watches(
      stepTables(a, { type: 'member', event: { kind: 'failed', member: { name: 'b', addr: 'b', state: 'dead', incarnation: 1 } } }, 100),
    ),
    [],
  );
  t.equal(listEntries(a, 'n', 't').length, 1, 'still visible during the grace period');
  t.same(watches(stepTables(a, { type: 'tick' }, 100 + config.ownerGraceMs)), ['delete:b/k=ep']);
  t.same(listEntries(a, 'n', 't'), []);
  a.members.setState(rec, 'alive', 2000);
  const back = stepTables(
    a,
    { type: 'member', event: { kind: 'joined', member: { name: 'b', addr: 'b', state: 'alive', incarnation: 2 } } },
    2000,
  );
  t.same(watches(back), ['add:b/k=ep'], 'comes back with its owner');
  t.ok(
    back.some((o) => o.type === 'request' && o.to === 'b'),
    'and a sync with the returning owner starts',
  );
  a.members.setState(rec, 'dead', 3000);
  stepTables(a, { type: 'member', event: { kind: 'failed', member: { name: 'b', addr: 'b', state: 'dead', incarnation: 2 } } }, 3000);
  stepTables(a, { type: 'tick' }, 3000 + config.ownerReclaimMs);
  t.equal(a.networks.get('n')!.owners.size, 0, 'reclaimed: its entries are dropped');
  stepTables(a, { type: 'messages', messages: [entry('b', 'k', 5, 'ep')] }, 3000 + config.ownerReclaimMs + 1);
  t.equal(a.networks.get('n')!.owners.size, 0, 'and a stale copy is refused while it stays gone');
});

t.test('anti-entropy: digests first, then only the entries that differ, in both directions', async (t) => {
  const a = node('a', ['b', 'c']);
  const b = node('b', ['a', 'c']);
  const nodes = new Map([
    ['a', a],
    ['b', b],
  ]);
  for (const s of [a, b]) stepTables(s, { type: 'join-network', network: 'n' }, 0);
  joined(a, 'b');
  joined(b, 'a');
  for (let i = 0; i < 50; i++) {
    const e = entry('c', `same-${i}`, 10 + i);
    stepTables(a, { type: 'messages', messages: [e] }, 1);
    stepTables(b, { type: 'messages', messages: [e] }, 1);
  }
  stepTables(a, { type: 'set', network: 'n', table: 't', key: 'only-a', value: v('a') }, 2);
  stepTables(b, { type: 'set', network: 'n', table: 't', key: 'only-b', value: v('b') }, 2);
  stepTables(a, { type: 'messages', messages: [entry('c', 'same-3', 100, 'newer')] }, 3);
  const before = { fetched: a.stats.entriesFetched, pushed: a.stats.entriesPushed };
  // a syncs with b (as its periodic anti-entropy would; c is not reachable here)
  let streams = 0;
  for (let i = 0; i < 20 && streams === 0; i++)
    streams = pump(nodes, 'a', stepTables(a, { type: 'tick' }, a.networks.get('n')!.nextSyncAt), 5);
  t.ok(streams >= 1);
  const keys = (s: TablesState): string[] =>
    listEntries(s, 'n', 't')
      .map((e) => `${e.owner}/${e.key}=${str(e.value)}`)
      .sort();
  t.same(keys(a), keys(b), 'both hold the same entries');
  t.equal(keys(a).length, 52);
  t.equal(a.stats.entriesFetched - before.fetched, 1, "only b's own entry was fetched");
  t.equal(a.stats.entriesPushed - before.pushed, 2, "only a's own entry and the newer same-3 were pushed");
});

t.test("a restarted owner takes back its previous life's entries", async (t) => {
  const b = node('b', ['a'], 2_000_000); // its clock starts later than its previous life's writes
  stepTables(b, { type: 'join-network', network: 'n' }, 0);
  const out = stepTables(b, { type: 'messages', messages: [entry('b', 'old', 1_500_000, 'from-before')] }, 1);
  const sent = b.networks.get('n')!.queue.take(10_000, 10);
  t.ok(
    sent.some((m) => m.key === 'old' && m.deleted && m.ltime > 1_500_000),
    'tombstoned with a newer ltime',
  );
  t.same(watches(out), []);
  stepTables(b, { type: 'set', network: 'n', table: 't', key: 'kept', value: v('now') }, 2);
  stepTables(b, { type: 'messages', messages: [entry('b', 'kept', 9_000_000, 'stale')] }, 3);
  t.equal(str(getEntry(b, 'n', 't', 'kept', 'b')!.value), 'now', 're-asserted over a newer foreign copy');
  t.ok(getEntry(b, 'n', 't', 'kept', 'b')!.ltime > 9_000_000);
});

t.test("a network leave removes the leaver's entries; an entry proves a join", async (t) => {
  const a = node('a', ['b', 'c']);
  stepTables(a, { type: 'join-network', network: 'n' }, 0);
  stepTables(a, { type: 'messages', messages: [entry('b', 'k', 5, 'x')] }, 1);
  t.ok(a.attach.get('n')!.joined.has('b'), 'b is known on n from its entry alone');
  const out = stepTables(a, { type: 'messages', messages: [{ kind: 'network', node: 'b', network: 'n', ltime: 6, joined: false }] }, 2);
  t.same(watches(out), ['delete:b/k=x']);
  t.ok(
    out.some((o) => o.type === 'broadcast'),
    'the leave is passed on',
  );
  stepTables(a, { type: 'messages', messages: [entry('b', 'k2', 4, 'late')] }, 3);
  t.same(listEntries(a, 'n', 't'), [], 'an entry written before the leave is refused');
  stepTables(a, { type: 'messages', messages: [entry('b', 'k3', 8, 'again')] }, 4);
  t.equal(listEntries(a, 'n', 't').length, 1, 'one written after (a rejoin) is accepted');
});
