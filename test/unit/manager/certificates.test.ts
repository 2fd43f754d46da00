/**
 * Node certificates: CSRs (build, verify, tampered, signed by another key), the renewal
 * scheduler in virtual time, and the root CA rotation's state machine through the manager
 * core (join, renew, progress, completion, removal).
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { MAX_TIMER_MS, RenewalScheduler, RETRY_MIN_MS, renewalAt } from '../../../src/api/cert-renewal.ts';
import { caDigest, generateNodeKey, identityOfCertificate, issuingRoot, signedBy } from '../../../src/api/certificates.ts';
import { buildCsr, createNodeCsr, verifyCsr, verifyCsrFor } from '../../../src/api/csr.ts';
import { FakeClock } from '../../../src/common/clock.ts';
import { createRng } from '../../../src/common/rng.ts';
import { createRootCa, crossSignRoot, importRootCa, issueNodeCertificate } from '../../../src/manager/ca.ts';
import { completeIfDone, retokened, rotationStatus, startRotation, tokenRoot } from '../../../src/manager/ca-rotation.ts';
import type { ManagerControl } from '../../../src/manager/control.ts';
import { parseJoinToken } from '../../../src/api/tokens.ts';
import { DEFAULT_CERT_EXPIRY, parseCertExpiry, rotationProgressLine } from '../../../src/cli/swarm.ts';
import { inProcessManager } from '../../support/manager-harness.ts';

const DAY = 24 * 3600_000;

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'no error';
}

// ------------------------------------------------------------------------------ CSRs

t.test('a CSR verifies against the key it carries, and names nothing the manager uses', async (t) => {
  const key = generateNodeKey();
  const csr = buildCsr(key, 'node-abc');
  t.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  const v = verifyCsr(csr);
  t.equal(v.publicKeyPem, key.publicKeyPem, 'the public key inside is the node key');
  t.equal(v.commonName, 'node-abc');
  t.equal(verifyCsrFor(csr, key.publicKeyPem).publicKeyPem, key.publicKeyPem, 'for the expected key');
});

t.test('a tampered CSR, one signed by another key, one for another key and junk are refused with stable codes', async (t) => {
  const key = generateNodeKey();
  const other = generateNodeKey();
  const csr = buildCsr(key, 'aaaaaaaa');
  // change one byte of the subject (the CN's text) without touching the structure
  const der = Buffer.from(csr.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const at = der.indexOf(Buffer.from('aaaaaaaa'));
  t.ok(at > 0, 'found the subject in the DER');
  der[at] = 'b'.charCodeAt(0);
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.equal(await codeOf(() => verifyCsr(tampered)), 'SHOAL_ERR_CSR_SIGNATURE', 'tampered');
  // the CSR names key's public key but is signed with the other private key
  const forged = buildCsr({ keyPem: other.keyPem, publicKeyPem: key.publicKeyPem });
  t.equal(await codeOf(() => verifyCsr(forged)), 'SHOAL_ERR_CSR_SIGNATURE', 'signed by another key');
  t.equal(await codeOf(() => verifyCsrFor(csr, other.publicKeyPem)), 'SHOAL_ERR_CSR_KEY_MISMATCH', 'for another key than the one sent');
  t.equal(await codeOf(() => verifyCsr('')), 'SHOAL_ERR_CSR_INVALID', 'missing');
  t.equal(
    await codeOf(() => verifyCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')),
    'SHOAL_ERR_CSR_INVALID',
  );
  t.equal(await codeOf(() => verifyCsr(key.publicKeyPem)), 'SHOAL_ERR_CSR_INVALID', 'a public key is not a CSR');
  const truncated = Buffer.from(der.subarray(0, der.length - 3)).toString('base64');
  t.equal(
    await codeOf(() => verifyCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${truncated}\n-----END CERTIFICATE REQUEST-----\n`)),
    'SHOAL_ERR_CSR_INVALID',
    'truncated',
  );
});

t.test('the join verifies the CSR; the manager names the certificate, never the CSR', async (t) => {
  const { control } = await inProcessManager(t);
  const swarm = await control.inspectSwarm();
  const key = generateNodeKey();
  const other = generateNodeKey();
  const token = swarm.joinTokens.worker;
  const base = { token, hostname: 'w1', advertiseAddr: '192.0.2.21' };
  t.equal(
    await codeOf(control.issueNodeCertificate({ ...base, csrPem: buildCsr({ keyPem: other.keyPem, publicKeyPem: key.publicKeyPem }) })),
    'SHOAL_ERR_CSR_SIGNATURE',
  );
  t.equal(
    await codeOf(control.issueNodeCertificate({ ...base, csrPem: '', publicKeyPem: key.publicKeyPem })),
    'SHOAL_ERR_CSR_INVALID',
    'a bare key',
  );
  t.equal(
    await codeOf(control.issueNodeCertificate({ ...base, csrPem: buildCsr(key), publicKeyPem: other.publicKeyPem })),
    'SHOAL_ERR_CSR_KEY_MISMATCH',
  );
  t.equal((await control.listNodes()).length, 1, 'no node was created by the refused joins');
  const issued = await control.issueNodeCertificate({ ...base, csrPem: buildCsr(key, 'i-am-the-manager') });
  const id = identityOfCertificate(issued.certPem);
  t.same([id.nodeId, id.role, id.clusterId], [issued.nodeId, 'worker', swarm.id], 'node ID, role and cluster from the manager');
  t.ok(
    new X509Certificate(issued.certPem).publicKey.export({ type: 'spki', format: 'pem' }).toString() === key.publicKeyPem,
    'for the CSR key',
  );
  const node = await control.inspectNode(issued.nodeId);
  t.equal(node.certRootDigest, swarm.caDigest, 'the node record says which root signed it');
  t.ok(node.certExpiresAt, 'and when it expires');
});

// ------------------------------------------------------------------------------ renewal scheduling

t.test('renewal points fall between 50% and 80% of the validity', async (t) => {
  t.equal(renewalAt(0, 1000, 0), 500);
  t.equal(renewalAt(0, 1000, 0.999999), 799);
  const rng = createRng(7);
  const outside: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const at = renewalAt(1000, 1000 + 90 * DAY, rng.next());
    if (at < 1000 + 45 * DAY || at >= 1000 + 72 * DAY) outside.push(at);
  }
  t.same(outside, [], '1,000 seeded draws (seed 7) all between day 45 and day 72 of 90');
});

/** A certificate valid from the fake clock's wall now for `validityMs`. */
function certAt(clock: FakeClock, validityMs: number): string {
  const ca = createRootCa('c', clock.wallNow() - 2 * 3600_000);
  // issueNodeCertificate backdates by an hour; give the validity from the wall now
  return issueNodeCertificate(ca, {
    nodeId: 'n1',
    role: 'worker',
    clusterId: 'c',
    publicKeyPem: generateNodeKey().publicKeyPem,
    nowMs: clock.wallNow() + 3600_000,
    validityMs,
  });
}

t.test('the scheduler renews once at its drawn point of a 90-day certificate, over timers of at most a day', async (t) => {
  const clock = new FakeClock(0, Date.UTC(2026, 5, 1));
  const renewedAt: number[] = [];
  let next = certAt(clock, 90 * DAY);
  const s = new RenewalScheduler({
    clock,
    random: () => 0.5,
    renew: async () => {
      renewedAt.push(clock.wallNow());
      next = certAt(clock, 90 * DAY);
      return next;
    },
  });
  s.schedule(next);
  const v = new X509Certificate(next);
  const expected = renewalAt(Date.parse(v.validFrom), Date.parse(v.validTo), 0.5);
  t.equal(s.dueAt, expected, 'due at 65% of the validity');
  t.ok(clock.nextAt()! <= MAX_TIMER_MS, 'the first timer is at most a day away');
  await clock.advanceAsync(expected - clock.wallNow() - 1000);
  t.equal(renewedAt.length, 0, 'not before its time');
  await clock.advanceAsync(2000);
  t.equal(renewedAt.length, 1, 'renewed at its time');
  t.ok(Math.abs(renewedAt[0]! - expected) <= 1, 'exactly then');
  t.ok(s.dueAt !== undefined && s.dueAt > clock.wallNow() + 40 * DAY, 'the new certificate is scheduled in turn');
  s.close();
  await clock.advanceAsync(100 * DAY);
  t.equal(renewedAt.length, 1, 'a closed scheduler renews nothing');
});

t.test('a failed renewal is retried with backoff; renewNow runs at once and once during a renewal', async (t) => {
  const clock = new FakeClock(0, Date.UTC(2026, 5, 1));
  let failures = 2;
  let calls = 0;
  const errors: number[] = [];
  let release: (() => void) | undefined;
  const s = new RenewalScheduler({
    clock,
    random: () => 0,
    renew: async (reason) => {
      calls++;
      if (reason === 'requested' && release === undefined && calls > 3) {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      }
      if (failures > 0) {
        failures--;
        throw new Error('manager away');
      }
      return certAt(clock, 10 * DAY);
    },
    onError: (_err, retryMs) => errors.push(retryMs),
  });
  s.renewNow();
  await clock.advanceAsync(0);
  t.same(errors, [RETRY_MIN_MS], 'first failure: retry after the minimum');
  await clock.advanceAsync(RETRY_MIN_MS);
  t.same(errors, [RETRY_MIN_MS, 2 * RETRY_MIN_MS], 'second failure: doubled');
  await clock.advanceAsync(2 * RETRY_MIN_MS);
  t.equal(calls, 3);
  t.equal(s.renewals, 1, 'the third try succeeded');
  t.ok(s.dueAt! > clock.wallNow() + 4 * DAY, 'and the next one is planned at half the validity');
  s.renewNow();
  await clock.advanceAsync(0);
  t.ok(s.busy, 'a requested renewal is running');
  s.renewNow();
  s.renewNow();
  release!();
  await clock.advanceAsync(0);
  await clock.advanceAsync(0);
  t.equal(calls, 5, 'requests during a renewal make exactly one more');
  t.equal(s.renewals, 3);
  s.close();
});

// ------------------------------------------------------------------------------ rotation

t.test('rotation state machine: start, progress, refusal while rotating, completion with retokened joins', async (t) => {
  const now = Date.UTC(2026, 5, 1);
  const old = createRootCa('c', now);
  const next = createRootCa('c', now, { rotation: true });
  const cluster = {
    id: 'cluster',
    version: 1,
    clusterId: 'c',
    createdAt: '',
    updatedAt: '',
    ca: old,
    joinTokens: { worker: `SWMTKN-1-${old.digest}-${'a'.repeat(25)}`, manager: `SWMTKN-1-${old.digest}-${'b'.repeat(25)}` },
    defaultAddrPools: [],
    defaultAddrPoolMaskLength: 24,
    portRangeStart: 1,
    portRangeEnd: 2,
    managerNodeId: 'm',
    managerAddr: '',
    ingressNetworkId: '',
    keyring: { version: 0, keys: [] },
  };
  const node = (id: string, digest: string, state = 'ready') => ({
    id,
    description: { hostname: id, platformOs: '', platformArch: '', version: '' },
    status: { state, message: '', addr: '', gossipPort: 0 },
    certRootDigest: digest,
  });
  const rotating = startRotation(cluster, next, crossSignRoot(next, old, now), 'T');
  t.equal(rotating.ca.digest, next.digest, 'the new root signs');
  t.equal(tokenRoot(rotating).digest, old.digest, 'tokens still name the old root');
  t.equal(rotating.caVersion, 1, 'trust version bumped');
  t.equal(
    await codeOf(() => startRotation(rotating, createRootCa('c', now, { rotation: true }), '', 'T2')),
    'SHOAL_ERR_CA_ROTATION_IN_PROGRESS',
  );
  const nodes = [node('m', next.digest), node('w1', old.digest), node('w2', old.digest, 'down')];
  const s = rotationStatus(rotating, nodes);
  t.same([s.rotating, s.nodesDone, s.nodesTotal, s.pending.map((p) => `${p.nodeId}:${p.state}`)], [true, 1, 3, ['w1:ready', 'w2:down']]);
  t.equal(completeIfDone(rotating, nodes, 'T3'), undefined, 'not done while nodes hold old certificates');
  nodes[1] = node('w1', next.digest);
  t.equal(completeIfDone(rotating, nodes, 'T3'), undefined, 'a down node blocks completion');
  const done = completeIfDone(rotating, nodes.slice(0, 2), 'T3')!;
  t.ok(done, 'done once the down node is gone');
  t.equal(done.caRotation, undefined, 'the old root is dropped');
  t.equal(done.caVersion, 2);
  t.equal(parseJoinToken(done.joinTokens.worker).digest, next.digest, 'join tokens carry the new digest');
  t.equal(parseJoinToken(done.joinTokens.worker).secret, 'a'.repeat(25), 'with the same secret');
  t.equal(retokened(cluster.joinTokens.manager, 'x'.repeat(50)).endsWith('b'.repeat(25)), true);
});

t.test('the cross-signed new root chains to the old root; an imported root is checked', async (t) => {
  const now = Date.now();
  const old = createRootCa('c', now);
  const next = createRootCa('c', now, { rotation: true });
  const cross = crossSignRoot(next, old, now);
  t.ok(signedBy(cross, old.certPem), 'cross-signed by the old root');
  t.ok(new X509Certificate(cross).publicKey.equals(new X509Certificate(next.certPem).publicKey), 'with the new root key');
  const leaf = issueNodeCertificate(next, {
    nodeId: 'n',
    role: 'worker',
    clusterId: 'c',
    publicKeyPem: generateNodeKey().publicKeyPem,
    nowMs: now,
    validityMs: DAY,
  });
  t.ok(signedBy(leaf, cross), 'a leaf of the new root is issued by the cross-signed copy too');
  t.equal(issuingRoot(leaf, `${old.certPem}${next.certPem}`), next.certPem, 'and found in a two-root bundle');
  t.equal(importRootCa(next.certPem, next.keyPem, now).digest, caDigest(next.certPem));
  t.equal(await codeOf(() => importRootCa(next.certPem, old.keyPem, now)), 'SHOAL_ERR_BAD_CA', 'key of another CA');
  t.equal(await codeOf(() => importRootCa(leaf, next.keyPem, now)), 'SHOAL_ERR_BAD_CA', 'not a CA');
  t.equal(await codeOf(() => importRootCa('junk', next.keyPem, now)), 'SHOAL_ERR_BAD_CA');
});

async function joinWorker(control: ManagerControl, hostname: string): Promise<{ nodeId: string; certPem: string }> {
  const swarm = await control.inspectSwarm();
  const r = await control.issueNodeCertificate({
    token: swarm.joinTokens.worker,
    csrPem: createNodeCsr().csrPem,
    hostname,
    advertiseAddr: '192.0.2.30',
  });
  return { nodeId: r.nodeId, certPem: r.certPem };
}

t.test('through the core: a rotation completes when the last node renews, or when a pending node is removed', async (t) => {
  const { control } = await inProcessManager(t);
  const w1 = await joinWorker(control, 'w1');
  const w2 = await joinWorker(control, 'w2');
  const before = await control.inspectSwarm();
  const oldDigest = before.caDigest;
  t.equal(await codeOf(control.rotateCa({ caCertPem: 'x' })), 'SHOAL_ERR_BAD_CA', 'a certificate without its key');
  const started = await control.rotateCa({});
  t.same([started.rotating, started.nodesDone, started.nodesTotal], [true, 0, 3]);
  t.not(started.rootDigest, oldDigest);
  t.equal(await codeOf(control.rotateCa({})), 'SHOAL_ERR_CA_ROTATION_IN_PROGRESS');
  const during = await control.inspectSwarm();
  t.equal(during.caDigest, oldDigest, 'joins still check the old root');
  t.ok(during.caRotationInProgress);
  // a node joining during the rotation gets a new-root certificate and the two-root bundle
  const swarm = await control.inspectSwarm();
  const j = await control.issueNodeCertificate({
    token: swarm.joinTokens.worker,
    csrPem: createNodeCsr().csrPem,
    hostname: 'w3',
    advertiseAddr: '',
  });
  t.equal(caDigest(issuingRoot(j.certPem, j.caPem)!), started.rootDigest, 'a joiner is issued by the new root');
  t.equal((j.caPem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'and trusts both roots');

  const r1 = await control.renewCertificate(w1.nodeId, createNodeCsr().csrPem);
  t.equal(identityOfCertificate(r1.certPem).nodeId, w1.nodeId, 'renewal names the caller');
  t.equal(caDigest(issuingRoot(r1.certPem, r1.trustBundlePem)!), started.rootDigest);
  t.equal(await codeOf(control.renewCertificate(w1.nodeId, 'junk')), 'SHOAL_ERR_CSR_INVALID');
  const manager = await control.issueManagerCertificate(generateNodeKey().publicKeyPem);
  t.match(
    manager.chainPem,
    /END CERTIFICATE-----\n-----BEGIN CERTIFICATE/,
    'the manager presents the cross-signed root during the rotation',
  );
  let status = await control.caStatus();
  t.same(
    status.pending.map((p) => p.nodeId),
    [w2.nodeId],
    'only w2 is pending',
  );
  await control.nodeDown(w2.nodeId, 'test');
  await control.removeNode(w2.nodeId);
  status = await control.caStatus();
  t.same([status.rotating, status.nodesDone, status.nodesTotal], [false, 3, 3], 'removing the pending node completed the rotation');
  t.equal(
    await codeOf(control.renewCertificate(w2.nodeId, createNodeCsr().csrPem)),
    'SHOAL_ERR_UNAUTHENTICATED',
    'a removed node cannot renew',
  );
  const after = await control.inspectSwarm();
  t.equal(after.caDigest, started.rootDigest, 'tokens and GetRootCa name the new root');
  t.equal(parseJoinToken(after.joinTokens.worker).digest, started.rootDigest);
  t.equal(parseJoinToken(after.joinTokens.worker).secret, parseJoinToken(before.joinTokens.worker).secret, 'the token secret is kept');
  t.notOk(after.caRotationInProgress);
});

t.test('swarm update: the certificate lifetime, at least an hour', async (t) => {
  const { control } = await inProcessManager(t);
  t.equal((await control.inspectSwarm()).certExpiryMs, 90 * DAY, "Docker's default");
  t.equal(await codeOf(control.updateSwarm({ certExpiryMs: 59 * 60_000 })), 'SHOAL_ERR_BAD_SPEC');
  t.equal((await control.updateSwarm({ certExpiryMs: 2 * 3600_000 })).certExpiryMs, 2 * 3600_000);
  const w = await joinWorker(control, 'w1');
  const v = new X509Certificate(w.certPem);
  t.equal(Date.parse(v.validTo) - Date.parse(v.validFrom), 3 * 3600_000, 'two hours plus the one-hour backdate');
});

t.test('swarm ca: the progress lines name what a rotation waits for; --cert-expiry is at least 1h', async (t) => {
  const base = { rootCaPem: '', rootDigest: 'd', previousDigest: 'p' };
  t.equal(
    rotationProgressLine({
      ...base,
      rotating: true,
      nodesDone: 2,
      nodesTotal: 3,
      pending: [{ nodeId: 'x'.repeat(25), hostname: 'h3', state: 'down' }],
    }),
    'rotating node certificates: 2/3 nodes renewed; waiting for h3 (down)\n',
  );
  t.equal(
    rotationProgressLine({ ...base, rotating: false, previousDigest: '', nodesDone: 3, nodesTotal: 3, pending: [] }),
    'root CA rotation complete: 3/3 nodes hold a certificate of the new root\n',
  );
  t.equal(parseCertExpiry(DEFAULT_CERT_EXPIRY), 90 * DAY, "Docker's default is 90 days");
  t.equal(parseCertExpiry('1h'), 3600_000);
  t.throws(() => parseCertExpiry('59m'), /minimum certificate expiry is 1h/);
});
