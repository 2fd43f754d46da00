/**
 * Node certificates, end to end on a 3-host testbed (prefix `crt`): `shoal swarm ca
 * --rotate` under a steady load through the routing mesh.
 *
 * The rotation is what makes every node renew at once (a real renewal: a new key, a CSR
 * over the node's mTLS session, the new identity saved and the session reconnected with
 * it), so this test needs no short-validity knob in the product. It checks: 0 failed
 * requests during and after the rotation; the CLI's progress ends with the rotation
 * complete; every node's certificate (on disk and as the manager records it) chains to the
 * new root and every node trusts only it; join tokens carry its digest; and a client
 * certificate of the old CA (the manager node's own, copied before the rotation), which
 * worked before, is refused afterwards.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { caDigest, identityOfCertificate, signedBy, splitPemCertificates } from '../../../src/api/certificates.ts';
import { parseJoinToken } from '../../../src/api/tokens.ts';
import { type Cluster, exec, inNs, startCluster } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';
import { finished, READY, SERVER, setPhase, startLoad, stopLoads } from '../../support/load.ts';
import { SHOAL_BIN } from '../../support/manager-harness.ts';
import { waitUntil } from '../../support/wait.ts';

const LOAD_RATE = 40;

function hostAddr(i: number): string {
  return `192.0.2.${10 + i}`;
}

async function get(ns: string, url: string, count: number): Promise<string[]> {
  const r = await inNs(
    ns,
    ['curl', '-s', '--max-time', '5', '-H', 'Connection: close', ...Array.from({ length: count }, () => url)],
    120_000,
  );
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** A remote CLI call from the underlay namespace with the certificates in `certDir`. */
function remoteCli(c: Cluster, managerAddr: string, certDir: string, args: readonly string[]) {
  return exec(
    'nsenter',
    [
      `--net=/run/netns/${c.underlayNs}`,
      '--',
      'env',
      `SHOAL_CERT_PATH=${certDir}`,
      `SHOAL_HOST=tcp://${managerAddr}`,
      process.execPath,
      SHOAL_BIN,
      ...args,
    ],
    { timeoutMs: 60_000 },
  );
}

if (requireKernel(t)) {
  t.test('certificates: swarm ca --rotate under mesh load re-issues every node from the new root, 0 failed requests', async (t) => {
    const prefix = `crt${randomBytes(1).toString('hex')}-`;
    const c = await startCluster(t, 3, prefix);
    const dir = mkdtempSync(join(tmpdir(), 'shoal-crt-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));

    await c.sh(['service', 'create', '--name', 'web', '--replicas', '3', '-p', '8080:80', ...READY, '--', ...SERVER]);
    await c.waitRunning('web', 3);
    await waitUntil(
      async () => {
        const tasks = (await c.client.listTasks({ services: ['web'], desiredState: 'running' })).filter(
          (x) => x.status.health === 'healthy',
        );
        return tasks.length === 3 ? tasks : undefined;
      },
      120_000,
      'web to run 3 healthy tasks',
      { retryErrors: true },
    );
    for (let h = 1; h <= 3; h++) {
      await waitUntil(async () => (await get(c.underlayNs, `http://${hostAddr(h)}:8080/`, 3)).length === 3, 60_000, `h${h}:8080 to answer`);
    }

    const oldRoot = await c.sh(['swarm', 'ca']);
    const oldDigest = caDigest(oldRoot);
    const swarm = await c.client.inspectSwarm();
    t.equal(swarm.caDigest, oldDigest, '`swarm ca` prints the root join tokens name');
    const agents = c.agents();
    t.equal(agents.length, 3);
    // the manager node's certificate of the old CA (a manager-role client certificate), kept for later
    const managerAgent = agents.find((a) => a.host === 'h1')!;
    const oldCerts = join(dir, 'old-certs');
    mkdirSync(oldCerts, { recursive: true });
    cpSync(join(managerAgent.dataDir, 'certificates'), oldCerts, { recursive: true });
    const before = await remoteCli(c, swarm.managerAddr, oldCerts, ['node', 'ls', '-q']);
    t.equal(before.code, 0, `the old certificate works before the rotation ${before.stderr}`);

    const load = startLoad(t, {
      dir,
      name: 'load',
      ns: c.underlayNs,
      rate: LOAD_RATE,
      targets: [1, 2, 3].map((h) => `${hostAddr(h)}:8080`),
      phase: 'before',
    });
    const stretch = async (name: string): Promise<void> => {
      const from = finished(load, name);
      await waitUntil(() => finished(load, name) - from >= LOAD_RATE * 3, 60_000, `${name}: a steady stretch of requests`, {
        intervalMs: 100,
      });
    };
    await stretch('before');
    setPhase(load, 'rotation');
    const rotated = await c.shoal(['swarm', 'ca', '--rotate'], 300_000);
    t.equal(rotated.code, 0, `swarm ca --rotate exits 0 ${rotated.stderr}`);
    t.comment(rotated.stdout.split('\n-----BEGIN')[0]!);
    t.match(rotated.stdout, /rotating node certificates: \d\/3 nodes renewed/, 'progress is printed');
    t.match(rotated.stdout, /root CA rotation complete: 3\/3 nodes hold a certificate of the new root\n/, 'and its completion');
    const newRoot = splitPemCertificates(rotated.stdout).at(-1)!;
    t.ok(newRoot, 'the new root is printed last');
    const newDigest = caDigest(newRoot);
    t.not(newDigest, oldDigest, 'a new root');
    await stretch('rotation');
    setPhase(load, 'after');
    await stretch('after');
    const [result] = await stopLoads([load]);
    for (const name of ['before', 'rotation', 'after']) {
      const p = result?.phases[name];
      t.ok(p && p.ok > 0, `${name}: requests answered (${p?.ok ?? 0})`);
      t.equal(
        p?.failed ?? 0,
        0,
        `${name}: 0 failed requests ${JSON.stringify(p?.errors ?? {})}${p && p.failed > 0 ? `\n  first failures: ${JSON.stringify(p.failures.slice(0, 20))}` : ''}`,
      );
    }

    t.equal(await c.sh(['swarm', 'ca']), newRoot, '`swarm ca` prints the new root');
    const after = await c.client.inspectSwarm();
    t.notOk(after.caRotationInProgress, 'the rotation is over');
    t.equal(after.caDigest, newDigest);
    t.equal(parseJoinToken(after.joinTokens.worker).digest, newDigest, 'join tokens carry the new digest');
    for (const n of await c.client.listNodes())
      t.equal(n.certRootDigest, newDigest, `node ${n.description.hostname} is recorded on the new root`);
    for (const a of agents) {
      // the trust update (old root dropped) reaches each agent over its session
      const certDir = join(a.dataDir, 'certificates');
      await waitUntil(
        () => readFileSync(join(certDir, 'ca.crt'), 'utf8') === newRoot || undefined,
        30_000,
        `${a.host} to trust only the new root`,
      );
      const cert = readFileSync(join(certDir, 'node.crt'), 'utf8');
      t.ok(signedBy(cert, newRoot), `${a.host}'s certificate chains to the new root`);
      t.equal(identityOfCertificate(cert).nodeId, a.nodeId, `${a.host}'s certificate still names its node`);
    }
    const session = JSON.parse(readFileSync(join(agents[1]!.dataDir, 'assignment.json'), 'utf8')) as { nodeState: string };
    t.equal(session.nodeState, 'ready', 'h2 has a live session with its new certificate');
    t.equal((await c.running('web')).length, 3, 'no task moved');

    // the old CA's client certificate: refused now (the server's certificate verified against the new root)
    writeFileSync(join(oldCerts, 'ca.crt'), newRoot);
    const refused = await remoteCli(c, after.managerAddr, oldCerts, ['node', 'ls', '-q']);
    t.not(refused.code, 0, 'a client certificate of the old CA is refused');
    t.match(refused.stderr, /SHOAL_ERR_UNAUTHENTICATED/, refused.stderr);
    const current = await remoteCli(c, after.managerAddr, join(managerAgent.dataDir, 'certificates'), ['node', 'ls', '-q']);
    t.equal(current.code, 0, `the manager node's new certificate is accepted ${current.stderr}`);
  });
}
