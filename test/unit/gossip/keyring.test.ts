import t from 'tap';
import { Keyring, generateGossipKey, gossipKeyId } from '../../../src/gossip/keyring.ts';
import { ENVELOPE_KIND_PACKET, ENVELOPE_KIND_STREAM, ENVELOPE_OVERHEAD } from '../../../src/gossip/envelope.ts';

const msg = new TextEncoder().encode('hello, cluster');

t.test('seal and open with the same key', async (t) => {
  const k = generateGossipKey();
  const a = new Keyring([k]);
  const b = new Keyring([k]);
  const sealed = a.seal(ENVELOPE_KIND_PACKET, msg);
  t.equal(sealed.length, msg.length + ENVELOPE_OVERHEAD);
  t.same([...b.open(ENVELOPE_KIND_PACKET, sealed)!], [...msg]);
  t.equal(b.stats.opened, 1);
  t.notSame(a.seal(ENVELOPE_KIND_PACKET, msg), sealed, 'a fresh nonce every time');
});

t.test('unauthenticated input is refused and counted by reason', async (t) => {
  const k = generateGossipKey();
  const r = new Keyring([k]);
  const sealed = r.seal(ENVELOPE_KIND_PACKET, msg);
  t.equal(r.open(ENVELOPE_KIND_PACKET, sealed.subarray(0, 10)), undefined);
  t.equal(r.stats.rejectedShort, 1);
  const v1 = Uint8Array.from(sealed);
  v1[0] = 1;
  t.equal(r.open(ENVELOPE_KIND_PACKET, v1), undefined, 'another envelope version (1, before replay protection)');
  t.equal(r.stats.rejectedVersion, 1);
  t.equal(r.open(ENVELOPE_KIND_STREAM, sealed), undefined, 'a datagram replayed as a stream frame');
  t.equal(r.stats.rejectedKind, 1);
  const other = new Keyring([generateGossipKey()]);
  t.equal(other.open(ENVELOPE_KIND_PACKET, sealed), undefined, 'unknown key');
  t.equal(other.stats.rejectedUnknownKey, 1);
  for (const at of [6, 12, 30, sealed.length - 1]) {
    const tampered = Uint8Array.from(sealed);
    tampered[at]! ^= 0x40;
    t.equal(r.open(ENVELOPE_KIND_PACKET, tampered), undefined, `a flipped bit at ${at}`);
  }
  t.equal(r.stats.rejectedAuth, 4, 'the send time (6) and the nonce (12) are authenticated');
  // A header rewritten to another kind does not authenticate either (kind is in the AAD).
  const rekind = Uint8Array.from(sealed);
  rekind[1] = ENVELOPE_KIND_STREAM;
  t.equal(r.open(ENVELOPE_KIND_STREAM, rekind), undefined);
});

t.test('several keys: the primary seals, all open; rotation loses nothing', async (t) => {
  const oldKey = generateGossipKey();
  const newKey = generateGossipKey();
  const a = new Keyring([oldKey]);
  const b = new Keyring([oldKey]);
  a.install(newKey);
  b.install(newKey);
  const fromOld = a.seal(ENVELOPE_KIND_PACKET, msg);
  a.use(newKey); // a switches first
  const fromNew = a.seal(ENVELOPE_KIND_PACKET, msg);
  t.same([...b.open(ENVELOPE_KIND_PACKET, fromOld)!], [...msg], 'b opens the old key');
  t.same([...b.open(ENVELOPE_KIND_PACKET, fromNew)!], [...msg], 'and the new one before switching itself');
  t.same([...a.open(ENVELOPE_KIND_PACKET, b.seal(ENVELOPE_KIND_PACKET, msg))!], [...msg], 'a still opens b (old primary)');
  t.throws(() => a.remove(newKey), { code: 'SHOAL_ERR_GOSSIP_KEY_IN_USE' }, 'the primary cannot be removed');
  a.remove(oldKey);
  t.equal(a.list().length, 1);
  t.same([...a.list()[0]!], [...newKey]);
  t.equal(a.open(ENVELOPE_KIND_PACKET, fromOld), undefined, 'a removed key opens nothing');
  a.remove(oldKey); // idempotent
  a.install(newKey); // idempotent
  t.equal(a.list().length, 1);
});

t.test('bad keys', async (t) => {
  t.throws(() => new Keyring([]), { code: 'SHOAL_ERR_GOSSIP_BAD_KEY' });
  t.throws(() => new Keyring([new Uint8Array(16)]), { code: 'SHOAL_ERR_GOSSIP_BAD_KEY' });
  t.throws(() => new Keyring([generateGossipKey()]).use(generateGossipKey()), { code: 'SHOAL_ERR_GOSSIP_KEY_IN_USE' });
  const k = generateGossipKey();
  t.equal(gossipKeyId(k), gossipKeyId(Uint8Array.from(k)), 'the key id depends only on the key');
});
