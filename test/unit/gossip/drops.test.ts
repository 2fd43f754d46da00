/**
 * The memberlist's drop counters (GossipStats.drops) on the full sealed path in virtual
 * time: plaintext, a removed key, a stale envelope and a replay each land in their own
 * counter, the cluster goes on, and a node that restarts (a new keyring, the same name) is
 * heard again at once, with nothing of its or its peers' traffic taken for a replay.
 */
import t from 'tap';
import { FakeClock } from '../../../src/common/clock.ts';
import { createRng } from '../../../src/common/rng.ts';
import { defaultLocalConfig } from '../../../src/gossip/config.ts';
import { ENVELOPE_KIND_PACKET, ENVELOPE_KIND_STREAM } from '../../../src/gossip/envelope.ts';
import { createKeyring, generateGossipKey } from '../../../src/gossip/keyring.ts';
import { createGossipNode, type GossipNode } from '../../../src/gossip/memberlist.ts';
import { MemoryNetwork } from '../../../src/gossip/memory-transport.ts';
import { encodePacket } from '../../../src/gossip/wire-codec.ts';

t.test('each drop reason counted; gossip goes on; a restarted node is heard at once', async (t) => {
  const clock = new FakeClock();
  const net = new MemoryNetwork({ clock, rng: createRng(11) });
  const oldKey = generateGossipKey();
  const key = generateGossipKey();
  const make = (i: number): GossipNode =>
    createGossipNode({
      name: `node-${i}`,
      config: defaultLocalConfig(),
      transport: net.createTransport(`198.18.0.${i}:7946`),
      keyring: createKeyring([key], 0, { clock }),
      clock,
      rng: createRng(100 + i),
    });
  const nodes = [make(0), make(1), make(2)];
  for (const n of nodes) await n.start();
  nodes[1]!.join([nodes[0]!.address]).catch(() => undefined);
  nodes[2]!.join([nodes[0]!.address]).catch(() => undefined);
  clock.advance(3000);
  t.ok(
    nodes.every((n) => n.liveCount() === 3),
    'three nodes formed',
  );
  const victim = nodes[0]!;
  t.equal(victim.stats().drops.total, 0, 'nothing dropped among honest nodes');

  const attacker = net.createTransport('198.18.0.99:7946');
  await attacker.start({ packet: () => undefined, request: (_from, _frame, respond) => respond(undefined) });
  const packet = encodePacket('node-9', [{ kind: 'ping', seq: 1, target: 'node-0' }]);
  attacker.sendPacket(victim.address, packet); // plaintext
  attacker.sendPacket(victim.address, createKeyring([oldKey], 0, { clock }).seal(ENVELOPE_KIND_PACKET, packet)); // a removed key
  attacker.sendPacket(victim.address, createKeyring([key], 0, { clock }).seal(ENVELOPE_KIND_STREAM, packet)); // the wrong kind
  const past = createKeyring([key], 0, { clock: { wallNow: () => clock.wallNow() - 3_600_000 } });
  attacker.sendPacket(victim.address, past.seal(ENVELOPE_KIND_PACKET, packet)); // an hour old
  const fresh = createKeyring([key], 0, { clock }).seal(ENVELOPE_KIND_PACKET, packet);
  attacker.sendPacket(victim.address, fresh);
  attacker.sendPacket(victim.address, fresh); // replayed
  const tampered = Uint8Array.from(fresh);
  tampered[tampered.length - 1]! ^= 1;
  attacker.sendPacket(victim.address, tampered);
  clock.advance(100);
  const d = victim.stats().drops;
  t.same(
    { ...d },
    { notSealed: 1, wrongKind: 1, unknownKey: 1, badAuth: 1, stale: 1, replayed: 1, malformed: 0, total: 6 },
    'one of each, by reason',
  );

  clock.advance(5000);
  t.ok(
    nodes.every((n) => n.liveCount() === 3),
    'the cluster is whole',
  );

  // node-2 crashes and restarts: no leave, a new process with a new keyring takes its place
  await nodes[2]!.destroy();
  clock.advance(200);
  const again = make(2);
  await again.start();
  again.join([victim.address]).catch(() => undefined);
  clock.advance(3000);
  t.equal(victim.liveCount(), 3, 'the restarted node is alive for its peers');
  t.equal(again.liveCount(), 3, 'and its peers for it');
  t.equal(victim.stats().drops.replayed, 1, 'nothing of the restarted node was taken for a replay');
  t.equal(again.stats().drops.replayed + again.stats().drops.badAuth, 0, 'nor by it');
  for (const n of [victim, nodes[1]!, again]) await n.destroy();
  await attacker.close();
});
