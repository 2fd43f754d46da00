import t from 'tap';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GossipResume } from '../../../src/agent/gossip-resume.ts';
import { decodeGossipResume, encodeGossipResume, loadGossipResume, saveGossipResume } from '../../../src/agent/gossip-resume.ts';

const resume: GossipResume = {
  keyring: {
    version: 3,
    keys: [
      { key: Uint8Array.from({ length: 32 }, (_, i) => i), lamportTime: 7, primary: true, algorithm: 'aes-256-gcm' },
      { key: new Uint8Array(32).fill(255), lamportTime: 2, primary: false, algorithm: 'aes-256-gcm' },
    ],
  },
  peers: [
    { nodeId: 'n1', addr: '192.0.2.11', hostname: 'h1', role: 'manager', gossipPort: 7946 },
    { nodeId: 'n2', addr: '2001:db8::2', hostname: 'h2', role: 'worker', gossipPort: 0 },
  ],
};

t.test('the keyring and peers come back as they were written', async (t) => {
  const back = decodeGossipResume(encodeGossipResume(resume));
  t.same(back, resume);
  t.ok(back?.keyring?.keys[0]?.key instanceof Uint8Array, 'keys are bytes again');
});

t.test('no keyring: peers only', async (t) => {
  t.same(decodeGossipResume(encodeGossipResume({ keyring: undefined, peers: resume.peers })), { keyring: undefined, peers: resume.peers });
});

t.test('what it did not write is not read', async (t) => {
  t.equal(decodeGossipResume('not json'), undefined);
  t.equal(decodeGossipResume('{"version":2,"peers":[]}'), undefined, 'another version');
  t.equal(decodeGossipResume('{"version":1}'), undefined, 'no peers');
  t.equal(
    decodeGossipResume('{"version":1,"peers":[],"keyring":{"version":1,"keys":[{"key":"xyz"}]}}'),
    undefined,
    'a key that is not hex',
  );
  t.same(
    decodeGossipResume('{"version":1,"peers":[{"nodeId":"a"},{"nodeId":"b","addr":"192.0.2.1"}]}')?.peers,
    [{ nodeId: 'b', addr: '192.0.2.1' }],
    'a peer without an address is dropped',
  );
});

t.test('saved readable by its owner only, loaded back; a missing file is undefined', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-resume-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'gossip.json');
  t.equal(loadGossipResume(path), undefined);
  saveGossipResume(path, resume);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.same(loadGossipResume(path), resume);
  writeFileSync(path, '{');
  t.equal(loadGossipResume(path), undefined, 'a torn file reads as none');
});
