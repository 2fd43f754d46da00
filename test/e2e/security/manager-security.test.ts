/**
 * Security of the manager's API, a real manager (its servers in this process) on
 * loopback:
 *
 * - over TCP it needs mTLS with a certificate its CA issued and that is valid now: a
 *   self-signed certificate naming this cluster, a node and the manager role, another
 *   cluster's certificate, and a certificate of this CA that expired are all refused as
 *   unauthenticated, while the manager's own certificate is served;
 * - a plaintext client gets nothing, not even the public root CA that any TLS client may
 *   read;
 * - the manager's unix socket is mode 0600.
 *
 * Covered elsewhere and not repeated: a TLS client without a certificate and a removed
 * node's certificate are refused, a worker's is denied the administration API
 * (test/e2e/manager/agents.test.ts); the agent's socket mode is checked on real agents in
 * dataplane-security.test.ts.
 */
import t, { type Test } from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeCsr } from '../../../src/api/csr.ts';
import { ROLE_UNITS } from '../../../src/api/certificates.ts';
import { ManagerClient } from '../../../src/api/client.ts';
import { GrpcConnection } from '../../../src/api/grpc-connection.ts';
import { parseHost } from '../../../src/api/manager-target.ts';
import { startServerInProcess, tempDir } from '../../support/manager-harness.ts';
import { exec } from '../../support/dataplane.ts';
import { requireKernel } from '../../support/kernel.ts';

async function openssl(args: string[]): Promise<void> {
  const r = await exec('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

function clientWith(t: Test, port: number, tls: { ca: Buffer; cert?: Buffer; key?: Buffer } | undefined): ManagerClient {
  const c = new ManagerClient(new GrpcConnection(parseHost(`tcp://127.0.0.1:${port}`), tls, 10_000));
  t.teardown(() => c.close());
  return c;
}

if (requireKernel(t)) {
  t.test('security: the manager API over TCP takes only valid certificates of its CA; its socket is 0600', async (t) => {
    const m = await startServerInProcess(t);
    const other = await startServerInProcess(t);
    const dir = tempDir(t, 'shoal-sec-certs-');
    const certs = m.paths.certDir;
    const ca = readFileSync(join(certs, 'ca.crt'));
    const swarm = await m.client.inspectSwarm();
    const clusterId = swarm.id;
    const managerNode = (await m.client.inspectNode('self')).id;

    // the control: the manager's own certificate is served over TCP
    const own = clientWith(t, m.port, { ca, cert: readFileSync(join(certs, 'node.crt')), key: readFileSync(join(certs, 'node.key')) });
    t.ok(Array.isArray(await own.listNetworks()), "the manager's own certificate is served");

    // self-signed, naming this cluster, a real node and the manager role
    const subject = `/O=${clusterId}/OU=${ROLE_UNITS.manager}/CN=${managerNode}`;
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'self.key'),
      '-out',
      join(dir, 'self.crt'),
      '-days',
      '30',
      '-subj',
      subject,
    ]);
    // another cluster's manager certificate
    const otherCerts = other.paths.certDir;
    // this CA's certificate for the same subject, expired yesterday
    const record = m.store.view((tx) => tx.get('cluster', 'cluster')) as unknown as { ca: { certPem: string; keyPem: string } };
    writeFileSync(join(dir, 'ca.crt'), record.ca.certPem);
    writeFileSync(join(dir, 'ca.key'), record.ca.keyPem, { mode: 0o600 });
    const csr = createNodeCsr(managerNode);
    writeFileSync(join(dir, 'expired.key'), csr.keyPem, { mode: 0o600 });
    await openssl(['req', '-new', '-key', join(dir, 'expired.key'), '-subj', subject, '-out', join(dir, 'expired.csr')]);
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ ca ]',
        'default_ca = d',
        '[ d ]',
        `database = ${join(dir, 'index.txt')}`,
        `new_certs_dir = ${dir}`,
        `serial = ${join(dir, 'serial')}`,
        'default_md = sha256',
        'policy = p',
        'unique_subject = no',
        'copy_extensions = copy',
        '[ p ]',
        'organizationName = supplied',
        'organizationalUnitName = supplied',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    const now = new Date();
    const stamp = (d: Date): string => `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
    await openssl([
      'ca',
      '-batch',
      '-config',
      join(dir, 'ca.cnf'),
      '-cert',
      join(dir, 'ca.crt'),
      '-keyfile',
      join(dir, 'ca.key'),
      '-in',
      join(dir, 'expired.csr'),
      '-out',
      join(dir, 'expired.crt'),
      '-notext',
      '-preserveDN',
      '-startdate',
      stamp(new Date(now.getTime() - 3 * 86_400_000)),
      '-enddate',
      stamp(new Date(now.getTime() - 86_400_000)),
    ]);
    // the control: the same request signed with dates that include now is served
    await openssl([
      'ca',
      '-batch',
      '-config',
      join(dir, 'ca.cnf'),
      '-cert',
      join(dir, 'ca.crt'),
      '-keyfile',
      join(dir, 'ca.key'),
      '-in',
      join(dir, 'expired.csr'),
      '-out',
      join(dir, 'current.crt'),
      '-notext',
      '-preserveDN',
      '-startdate',
      stamp(new Date(now.getTime() - 86_400_000)),
      '-enddate',
      stamp(new Date(now.getTime() + 86_400_000)),
    ]);
    const current = clientWith(t, m.port, {
      ca,
      cert: readFileSync(join(dir, 'current.crt')),
      key: readFileSync(join(dir, 'expired.key')),
    });
    t.ok(Array.isArray(await current.listNetworks()), 'the same key and subject from this CA, valid now, is served');
    const verify = await exec('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'expired.crt')]);
    t.match(verify.stdout + verify.stderr, /expired/, 'the crafted certificate is one of this CA, expired');

    const cases: Array<[string, Buffer, Buffer]> = [
      ['a self-signed certificate', readFileSync(join(dir, 'self.crt')), readFileSync(join(dir, 'self.key'))],
      ["another cluster's certificate", readFileSync(join(otherCerts, 'node.crt')), readFileSync(join(otherCerts, 'node.key'))],
      ['an expired certificate of this CA', readFileSync(join(dir, 'expired.crt')), readFileSync(join(dir, 'expired.key'))],
    ];
    for (const [what, cert, key] of cases) {
      const c = clientWith(t, m.port, { ca, cert, key });
      await t.rejects(c.listNetworks(), { code: 'SHOAL_ERR_UNAUTHENTICATED' }, `${what}: refused as unauthenticated`);
      await t.rejects(c.inspectNode(managerNode), { code: 'SHOAL_ERR_UNAUTHENTICATED' }, `${what}: no node call either`);
    }

    // plaintext: nothing answers, not even what any TLS client may read
    const plain = clientWith(t, m.port, undefined);
    await t.rejects(plain.getRootCa(), 'a plaintext client is refused');
    const tlsOnly = clientWith(t, m.port, { ca });
    t.equal((await tlsOnly.getRootCa()).digest, swarm.caDigest, '(over TLS the root CA is public)');

    const mode = statSync(m.paths.socket).mode & 0o777;
    t.equal(mode.toString(8), '600', "the manager's unix socket is mode 0600");
  });
}
