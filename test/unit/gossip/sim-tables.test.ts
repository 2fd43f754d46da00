// Per-network tables on a formed 1,000-node cluster: an entry reaches every member of its
// network and no other node; updates and deletes follow; a node joining the network later
// catches up through anti-entropy (digests, then only the differing entries).
import t from 'tap';
import { Simulation } from '../../../src/gossip/simulation.ts';
import { bytes, seedFor, text } from '../../support/gossip-sim.ts';

const N = 1000;
const BLUE = Array.from({ length: 600 }, (_, i) => i); // nodes 0-599
const RED = Array.from({ length: 600 }, (_, i) => 400 + i); // nodes 400-999

t.test('a table entry reaches every member of its network and no other node', async (t) => {
  const sim = await Simulation.create({
    nodes: N,
    seed: seedFor(t, 2002),
    formed: {
      networks: [
        { id: 'blue', members: BLUE },
        { id: 'red', members: RED },
      ],
    },
  });
  sim.run(1000);
  const writer = sim.nodes[10]!;
  const blue = new Set(BLUE);
  writer.node.tables.set('blue', 'endpoints', 'ep-1', bytes('10.0.1.5'));
  const holders = (): number => sim.nodes.filter((n) => n.node.tables.get('blue', 'endpoints', 'ep-1', writer.name) !== undefined).length;
  const took = sim.runUntil(() => holders() === BLUE.length, 30_000, 10);
  t.ok(took !== undefined, `all ${BLUE.length} members of blue hold the entry (${took} ms of virtual time)`);

  sim.run(5_000); // let every retransmission finish
  const outsiders = sim.nodes.filter((n) => !blue.has(n.index));
  t.equal(outsiders.length, 400);
  t.equal(outsiders.filter((n) => n.node.inNetwork('blue')).length, 0, 'no outsider is on blue');
  t.equal(
    outsiders.reduce((sum, n) => sum + n.node.stats().tables.eventsRefused, 0),
    0,
    'no outsider was even sent a blue table event',
  );
  t.equal(outsiders.filter((n) => n.node.tables.list('blue', 'endpoints').length > 0).length, 0, 'no outsider stores it');

  writer.node.tables.set('blue', 'endpoints', 'ep-1', bytes('10.0.1.6'));
  t.ok(
    sim.runUntil(
      () =>
        sim.nodes
          .filter((n) => blue.has(n.index))
          .every((n) => text(n.node.tables.get('blue', 'endpoints', 'ep-1', writer.name)?.value ?? bytes('')) === '10.0.1.6'),
      30_000,
      10,
    ) !== undefined,
    'an update reaches every member',
  );
  writer.node.tables.delete('blue', 'endpoints', 'ep-1');
  t.ok(sim.runUntil(() => holders() === 0, 30_000, 10) !== undefined, 'a delete reaches every member');
  writer.node.tables.set('blue', 'endpoints', 'ep-2', bytes('10.0.1.7'));
  sim.run(5_000);

  // A red-only node joins blue later: it learns ep-2 through a digest sync, not gossip.
  const late = sim.nodes[900]!;
  const fetchedBefore = late.node.stats().tables.entriesFetched;
  late.node.joinNetwork('blue');
  const caught = sim.runUntil(() => late.node.tables.get('blue', 'endpoints', 'ep-2', writer.name) !== undefined, 10_000, 10);
  t.ok(caught !== undefined, `a late joiner gets the existing entry (${caught} ms)`);
  t.ok(late.node.stats().tables.entriesFetched > fetchedBefore, 'through anti-entropy');
  t.equal(late.node.tables.get('blue', 'endpoints', 'ep-1', writer.name), undefined, 'and not the deleted one');
});
