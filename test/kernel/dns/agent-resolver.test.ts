/**
 * The node's resolver (src/agent/resolvers.ts) in throwaway sandboxes: after a sync a task
 * resolves a service name through 127.0.0.11:53 and the doctor finds nothing; a sandbox it
 * was never given to is reported as having no sockets (not as a table to delete); a
 * redirect table changed behind its back is reported as drift, and the next full sync
 * repairs it.
 */
import t from 'tap';
import { AgentResolver, type ResolverSandboxSpec, resolverTableName } from '../../../src/agent/resolvers.ts';
import { systemClock } from '../../../src/common/clock.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import type { RecordInput } from '../../../src/dns/records.ts';
import { execInNetns } from '../../../src/kernel/exec.ts';
import { createNft } from '../../../src/kernel/nft.ts';
import { testPrefix, throwawayNetns } from '../../support/kernel.ts';

const VIP = '10.0.1.2';

const records: RecordInput = {
  networks: [{ id: 'net-front', name: 'front', internal: false, ingress: false }],
  services: [
    {
      id: 'svc-web',
      name: 'web',
      endpointMode: 'vip',
      virtualIps: [{ networkId: 'net-front', addr: `${VIP}/24` }],
      networks: [{ target: 'net-front', aliases: [] }],
    },
  ],
  tasks: [],
  containers: [],
};

const spec = (id: string, netns: string): ResolverSandboxSpec => ({ id, netns, networkIds: ['net-front'], dns: [], internal: false });

t.test("the agent's resolver: served sandboxes answer, the doctor tells unserved ones and drift apart", async (t) => {
  const served = throwawayNetns(t, 'ares');
  const unserved = throwawayNetns(t, 'ares2');
  if (!served || !unserved) return;
  for (const ns of [served, unserved]) await execInNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
  const prefix = `${testPrefix()}-`;
  const resolver = new AgentResolver({
    prefix,
    logger: silentLogger,
    clock: systemClock,
    nft: (ns) => createNft(ns),
    records: () => records,
    hostResolvConf: () => '',
  });
  t.teardown(() => resolver.close());

  t.same(await resolver.sync([spec('sb1', served)], true), [], 'the sync applies');
  const dig = await execInNetns(served, 'dig', ['@127.0.0.11', '+time=3', '+tries=2', '+short', 'web', 'A']);
  t.equal(dig.stdout.trim(), VIP, 'dig web from the sandbox: the VIP, through 127.0.0.11:53');
  t.same(await resolver.doctor([spec('sb1', served)]), [], 'the doctor: nothing');

  t.same(
    await resolver.doctor([spec('sb1', served), spec('sb2', unserved)]),
    [{ netns: unserved, kind: 'unserved', text: 'the resolver has no sockets in this sandbox (127.0.0.11 does not answer)' }],
    'a sandbox never synced: no sockets, and no table drift reported for it',
  );

  // the redirect table removed behind the resolver's back
  await execInNetns(served, 'nft', ['delete', 'table', 'ip', resolverTableName(prefix)]);
  const drift = await resolver.doctor([spec('sb1', served)]);
  t.equal(drift.length, 1, `one finding: ${JSON.stringify(drift)}`);
  t.match(drift[0], { netns: served, text: resolverTableName(prefix) }, "the sandbox's redirect table");
  t.same(await resolver.sync([spec('sb1', served)], true), [], 'a full sync');
  t.same(await resolver.doctor([spec('sb1', served)]), [], 'repairs it');
});
