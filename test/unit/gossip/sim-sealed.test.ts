// The full path in simulation: protobuf encoding and AES-256-GCM sealing of every datagram
// and stream frame over a byte MemoryTransport, with 5% datagram loss. A small cluster forms,
// replicates a table, detects a killed node, rotates its key with no message lost, and keeps
// out a node that holds the wrong key.
import t from 'tap';
import { defaultLocalConfig, validateGossipConfig } from '../../../src/gossip/config.ts';
import { createKeyring, generateGossipKey } from '../../../src/gossip/keyring.ts';
import { Simulation } from '../../../src/gossip/simulation.ts';
import { bytes, notFormed, seedFor, text } from '../../support/gossip-sim.ts';

const N = 40;

t.test('sealed simulation: form, replicate, detect, rotate keys, refuse a stranger', async (t) => {
  const sim = await Simulation.create({
    nodes: N,
    seed: seedFor(t, 6006),
    mode: 'sealed',
    loss: 0.05,
    config: validateGossipConfig({}, defaultLocalConfig()),
  });
  sim.joinAll(20);
  t.ok(
    sim.runUntil(() => notFormed(sim, N).length === 0, 60_000, 100) !== undefined,
    `${N} nodes form one membership over sealed datagrams`,
  );
  for (const n of sim.nodes) n.node.joinNetwork('net');
  sim.run(2_000);

  sim.nodes[5]!.node.tables.set('net', 'ep', 'k', bytes('v1'));
  t.ok(
    sim.runUntil(() => sim.nodes.every((n) => n.node.tables.get('net', 'ep', 'k', sim.nodes[5]!.name) !== undefined), 10_000, 10) !==
      undefined,
    'an entry reaches everyone',
  );

  await sim.kill(9);
  t.ok(
    sim.runUntil(() => sim.running().every((n) => n.node.member(sim.nodes[9]!.name)?.state === 'dead'), 30_000, 100) !== undefined,
    'a killed node is declared dead by all',
  );

  // Key rotation while writes flow: install everywhere, switch the primary node by node,
  // remove the old key. Every write made during the rotation must arrive everywhere and no
  // datagram may fail authentication.
  const keyrings = new Map(sim.running().map((n) => [n.name, n.keyring!]));
  const fresh = generateGossipKey();
  const written: string[] = [];
  const write = (i: number): void => {
    const key = `rot-${written.length}`;
    sim.running()[i % sim.running().length]!.node.tables.set('net', 'ep', key, bytes(key));
    written.push(key);
  };
  for (const k of keyrings.values()) k.install(fresh);
  write(0);
  sim.run(500);
  let i = 1;
  for (const k of keyrings.values()) {
    k.use(fresh);
    write(i++);
    sim.run(100);
  }
  for (const k of keyrings.values()) k.remove(sim.key);
  write(i++);
  const all = (): boolean => sim.running().every((n) => written.every((key) => n.node.tables.list('net', 'ep').some((e) => e.key === key)));
  t.ok(sim.runUntil(all, 20_000, 50) !== undefined, `all ${written.length} writes made during the rotation reached every node`);
  const unauth = sim
    .running()
    .reduce((s, n) => s + n.node.stats().codec.packetsUnauthenticated + n.node.stats().codec.framesUnauthenticated, 0);
  t.equal(unauth, 0, 'no datagram or frame failed authentication during the rotation');

  // A node with another key cannot join, and the cluster counts what it refused.
  await sim.restart(9, createKeyring([generateGossipKey()]));
  const stranger = sim.nodes[9]!;
  const joining = stranger.node.join(sim.seeds()).then(
    () => 'joined',
    (err: { code?: string }) => err.code ?? 'error',
  );
  sim.run(3_000); // the join's streams run (and fail) in virtual time
  t.equal(await joining, 'SHOAL_ERR_GOSSIP_JOIN_FAILED', 'the node with the wrong key is refused');
  sim.run(5_000);
  t.equal(stranger.node.liveCount(), 1, 'it sees no member');
  t.ok(
    sim
      .running()
      .filter((n) => n !== stranger)
      .every((n) => n.node.member(stranger.name)?.state !== 'alive'),
    'no member sees it alive',
  );
  const refused = sim
    .running()
    .reduce((s, n) => s + n.node.stats().codec.framesUnauthenticated + n.node.stats().codec.packetsUnauthenticated, 0);
  t.ok(refused > 0, `its datagrams and frames were refused and counted (${refused})`);
  t.equal(text(sim.nodes[5]!.node.tables.get('net', 'ep', 'k')!.value), 'v1');
});
