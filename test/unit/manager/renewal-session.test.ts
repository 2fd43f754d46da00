// An agent's certificate renewal through the manager's real mTLS listener on loopback: a
// root CA rotation reaches the session in its assignment, the session renews over its
// connection with a new key, saves the pair (key 0600) and reconnects with it; the rotation
// then completes (the manager renewed its own certificate too) and the agent trusts only the
// new root. And the identity files survive a crash in the middle of a swap.
import { statSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { AgentSession } from '../../../src/agent/session-client.ts';
import { loadIdentity, saveIdentity } from '../../../src/agent/join.ts';
import { caDigest, signedBy } from '../../../src/api/certificates.ts';
import { createNodeCsr } from '../../../src/api/csr.ts';
import { connectManager } from '../../../src/api/client.ts';
import { dataDirPaths } from '../../../src/api/data-dir.ts';
import { startManager } from '../../../src/manager/manager.ts';
import { joinNode, tempDir, until } from '../../support/manager-harness.ts';
import { freePort } from '../../support/net.ts';

t.test('a rotation makes the session renew with a new key, save it and reconnect; then only the new root is trusted', async (t) => {
  const dataDir = tempDir(t, 'shoal-renew-');
  const port = await freePort();
  const m = await startManager({ dataDir, listenAddr: `127.0.0.1:${port}`, advertiseAddr: '127.0.0.1' }, { noSweep: true });
  t.teardown(() => m.destroy());
  const client = connectManager({ dataDir, env: {}, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const { identity, dataDir: agentDir } = await joinNode(t, { client, managerAddr: m.managerAddr }, 'h1');
  let fatal = false;
  const session = new AgentSession({
    identity,
    advertiseAddr: '127.0.0.1',
    dataDir: agentDir,
    reconnectMinMs: 50,
    reconnectMaxMs: 300,
    onFatal: () => {
      fatal = true;
    },
  });
  t.teardown(() => session.close());
  session.start();
  await until(() => session.connected, 10_000, 'the session to connect');
  const due = session.renewalDueAt!;
  const v = { from: Date.now() - 3600_000, to: Date.now() + 90 * 24 * 3600_000 };
  t.ok(due > v.from + 0.49 * (v.to - v.from) && due < v.from + 0.81 * (v.to - v.from), 'the renewal is planned between 50% and 80%');

  const started = await m.control.rotateCa({});
  t.ok(started.rotating);
  await until(() => session.certificateRenewals >= 1 && session.connected, 20_000, 'the session to renew and reconnect');
  const saved = loadIdentity(agentDir)!;
  t.not(saved.keyPem, identity.keyPem, 'a new key');
  t.ok(signedBy(saved.certPem, started.rootCaPem), 'a certificate of the new root, saved');
  t.equal(saved.certPem, session.currentIdentity.certPem, 'the one the session connects with');
  t.equal(statSync(dataDirPaths(agentDir).nodeKey).mode & 0o777, 0o600, 'the key is 0600');
  await until(async () => !(await client.caStatus()).rotating || undefined, 20_000, 'the rotation to complete');
  await until(() => loadIdentity(agentDir)!.caPem === started.rootCaPem || undefined, 10_000, 'the agent to trust only the new root');
  t.equal(caDigest(loadIdentity(agentDir)!.caPem), started.rootDigest);
  const node = await client.inspectNode(identity.nodeId);
  t.equal(node.certRootDigest, started.rootDigest, 'the manager recorded the new certificate');
  t.equal(node.status.state, 'ready', 'the node stayed ready');
  t.notOk(fatal);
});

t.test('the key and certificate are saved as a pair that survives a crash during the swap', async (t) => {
  const dataDir = tempDir(t, 'shoal-renew2-');
  const port = await freePort();
  const m = await startManager({ dataDir, listenAddr: `127.0.0.1:${port}`, advertiseAddr: '127.0.0.1' }, { noSweep: true });
  t.teardown(() => m.destroy());
  const client = connectManager({ dataDir, env: {}, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  const { identity, dataDir: dir } = await joinNode(t, { client, managerAddr: m.managerAddr }, 'h2');
  const p = dataDirPaths(dir);
  t.equal(loadIdentity(dir)!.certPem, identity.certPem, 'saved at the join');
  const next = createNodeCsr(identity.nodeId);
  const renewed = await m.control.renewCertificate(identity.nodeId, next.csrPem);

  // a crash after the key was renamed, before the certificate was: the staged certificate is taken
  writeFileSync(p.nodeKey, next.keyPem, { mode: 0o600 });
  writeFileSync(`${p.nodeCert}.next`, renewed.certPem);
  let loaded = loadIdentity(dir)!;
  t.same([loaded.keyPem, loaded.certPem], [next.keyPem, renewed.certPem], 'the swap is finished at load');
  t.notOk(exists(`${p.nodeCert}.next`));

  // a crash before any rename: the complete stage is taken
  saveIdentity(dir, identity);
  writeFileSync(`${p.nodeKey}.next`, next.keyPem, { mode: 0o600 });
  writeFileSync(`${p.nodeCert}.next`, renewed.certPem);
  loaded = loadIdentity(dir)!;
  t.same([loaded.keyPem, loaded.certPem], [next.keyPem, renewed.certPem], 'a complete stage is taken');

  // a crash while staging (only the key staged): the current pair stands and the stage goes
  saveIdentity(dir, identity);
  writeFileSync(`${p.nodeKey}.next`, next.keyPem, { mode: 0o600 });
  loaded = loadIdentity(dir)!;
  t.same([loaded.keyPem, loaded.certPem], [identity.keyPem, identity.certPem], 'an incomplete stage is dropped');
  t.notOk(exists(`${p.nodeKey}.next`));
});

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
