import t from 'tap';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { caDigest, generateNodeKey, identityOfCertificate } from '../../../src/api/certificates.ts';
import { createRootCa, identityOfPeer, issueNodeCertificate } from '../../../src/manager/ca.ts';
import { generateJoinToken, parseJoinToken, roleForToken } from '../../../src/api/tokens.ts';
import { GOSSIP_KEY_BYTES, keyringDue, keyringForAgents, newKeyring, rotateKeyring } from '../../../src/manager/keyring.ts';

const NOW = Date.UTC(2026, 0, 1);

t.test('root CA is a self-signed CA certificate whose digest is 50 base-36 characters', async (t) => {
  const ca = createRootCa('cluster1', NOW);
  const cert = new X509Certificate(ca.certPem);
  t.ok(cert.ca, 'basicConstraints CA:true');
  t.ok(cert.verify(cert.publicKey), 'self-signed');
  t.match(ca.digest, /^[0-9a-z]{50}$/);
  t.equal(caDigest(ca.certPem), ca.digest);
  t.not(createRootCa('cluster1', NOW).digest, ca.digest, 'a new CA has a new digest');
});

t.test('node certificates name the node, role and cluster and chain to the CA', async (t) => {
  const ca = createRootCa('cluster1', NOW);
  const key = generateNodeKey();
  const pem = issueNodeCertificate(ca, {
    nodeId: 'n1',
    role: 'worker',
    clusterId: 'cluster1',
    publicKeyPem: key.publicKeyPem,
    nowMs: Date.now(),
    validityMs: 3600_000,
    ips: ['192.0.2.11'],
  });
  const cert = new X509Certificate(pem);
  t.notOk(cert.ca);
  t.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  t.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  t.match(cert.subjectAltName ?? '', /IP Address:192\.0\.2\.11/);
  t.match(identityOfCertificate(pem), { nodeId: 'n1', role: 'worker', clusterId: 'cluster1' });
  t.throws(
    () => issueNodeCertificate(ca, { nodeId: 'n', role: 'worker', clusterId: 'c', publicKeyPem: 'junk', nowMs: NOW, validityMs: 1 }),
    { code: 'SHOAL_ERR_BAD_SPEC' },
  );
});

t.test('certificates work for a mutual TLS handshake on loopback', async (t) => {
  const ca = createRootCa('cluster1', Date.now());
  const serverKey = generateNodeKey();
  const clientKey = generateNodeKey();
  const serverCert = issueNodeCertificate(ca, {
    nodeId: 'm1',
    role: 'manager',
    clusterId: 'cluster1',
    publicKeyPem: serverKey.publicKeyPem,
    nowMs: Date.now(),
    validityMs: 3600_000,
    ips: ['127.0.0.1'],
  });
  const clientCert = issueNodeCertificate(ca, {
    nodeId: 'w1',
    role: 'worker',
    clusterId: 'cluster1',
    publicKeyPem: clientKey.publicKeyPem,
    nowMs: Date.now(),
    validityMs: 3600_000,
  });
  const seen: string[] = [];
  const server = tls.createServer(
    { key: serverKey.keyPem, cert: serverCert, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
    (socket) => {
      seen.push(identityOfPeer(socket.getPeerCertificate()).nodeId);
      socket.end('hi');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const reply = await new Promise<string>((resolve, reject) => {
    const s = tls.connect(
      { host: '127.0.0.1', port, key: clientKey.keyPem, cert: clientCert, ca: ca.certPem, servername: 'shoal-manager' },
      () => {
        t.equal(identityOfPeer(s.getPeerCertificate()).role, 'manager');
      },
    );
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
  t.equal(reply, 'hi');
  t.same(seen, ['w1']);
  // a certificate from another cluster's CA is refused by the handshake
  const other = createRootCa('cluster2', Date.now());
  const foreign = issueNodeCertificate(other, {
    nodeId: 'x',
    role: 'worker',
    clusterId: 'cluster2',
    publicKeyPem: clientKey.publicKeyPem,
    nowMs: Date.now(),
    validityMs: 3600_000,
  });
  await t.rejects(
    new Promise<void>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, key: clientKey.keyPem, cert: foreign, ca: ca.certPem, servername: 'shoal-manager' });
      s.on('data', () => resolve());
      s.on('error', reject);
      s.on('close', () => reject(new Error('closed')));
    }),
  );
});

t.test('join tokens: shape, roles, rotation and foreign tokens', async (t) => {
  const ca = createRootCa('c', NOW);
  const tokens = { worker: generateJoinToken(ca.digest), manager: generateJoinToken(ca.digest) };
  t.match(tokens.worker, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  t.equal(parseJoinToken(tokens.worker).digest, ca.digest);
  t.equal(roleForToken(tokens.worker, tokens), 'worker');
  t.equal(roleForToken(tokens.manager, tokens), 'manager');
  const rotated = { ...tokens, worker: generateJoinToken(ca.digest) };
  t.throws(() => roleForToken(tokens.worker, rotated), { code: 'SHOAL_ERR_JOIN_TOKEN_REJECTED', message: /rotated/ });
  const foreign = generateJoinToken(createRootCa('d', NOW).digest);
  t.throws(() => roleForToken(foreign, tokens), { code: 'SHOAL_ERR_JOIN_TOKEN_REJECTED', message: /different cluster/ });
  for (const bad of [
    '',
    'SWMTKN-1-abc-def',
    'SWMTKN-2-' + ca.digest + '-' + 'a'.repeat(25),
    tokens.worker + 'x',
    tokens.worker.toUpperCase(),
  ]) {
    t.throws(() => roleForToken(bad, tokens), { code: 'SHOAL_ERR_BAD_JOIN_TOKEN' }, JSON.stringify(bad));
  }
});

t.test('gossip keyring: 32-byte keys, rotation keeps the newest as primary', async (t) => {
  let ring = newKeyring(new Date(NOW).toISOString());
  t.equal(Buffer.from(ring.keys[0]!.key, 'base64').length, GOSSIP_KEY_BYTES);
  for (let i = 1; i <= 4; i++) ring = rotateKeyring(ring, new Date(NOW + i * 1000).toISOString(), 3);
  t.equal(ring.keys.length, 3);
  t.equal(ring.version, 5);
  t.same(
    ring.keys.map((k) => k.lamportTime),
    [3, 4, 5],
  );
  const agents = keyringForAgents(ring);
  t.same(
    agents.keys.map((k) => k.primary),
    [false, false, true],
  );
  t.equal(agents.keys[2]!.key.length, 32);
  t.equal(new Set(ring.keys.map((k) => k.key)).size, 3, 'keys differ');
  t.notOk(keyringDue(ring, NOW + 4000 + 999, 1000));
  t.ok(keyringDue(ring, NOW + 4000 + 1000, 1000));
  t.notOk(keyringDue(ring, NOW + 1e12, 0), '0 disables rotation');
});
