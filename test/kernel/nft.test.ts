/**
 * Conformance of FakeNft with nft 1.0.6 on the real kernel: one script of transactions runs
 * against both, in a throwaway namespace; after each step both must agree on success or
 * failure (and the errno), and their canonical dumps must be equal. Rules are written in
 * the form nft prints them back, so the fake's verbatim text equals the real listing.
 * Every test body runs on both backends of createNft: libnftables in this process, and
 * the nft tool (what SHOAL_NFT=exec selects).
 * Needs root and network namespaces; in CI their absence is a failure.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import type { ShoalError } from '../../src/common/errors.ts';
import { FakeNft } from '../../src/kernel/fake-nft.ts';
import { canonicalNftTable, createNft, withRuleText } from '../../src/kernel/nft.ts';
import { libnftablesUnavailable, NFT_BACKENDS, type NftBackend } from '../../src/kernel/nft-lib.ts';
import { isCi } from '../support/ci.ts';
import { requireKernel } from '../support/kernel.ts';

/** A namespace `nl-<6 hex>-<label>` for one test, removed in teardown. */
function nlNetns(t: Test, label: string): string | undefined {
  if (!requireKernel(t)) return undefined;
  const name = `nl-${randomBytes(3).toString('hex')}-${label}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  t.teardown(() => {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
  });
  return name;
}

/** False (the test skipped, or failed in CI) when `backend` cannot run here. */
function backendUsable(t: Test, backend: NftBackend): boolean {
  const why = backend === 'library' ? libnftablesUnavailable() : undefined;
  if (why === undefined) return true;
  if (isCi(process.env)) t.fail(`libnftables: ${why}`);
  else t.plan(0, `libnftables: ${why}`);
  return false;
}

type Outcome = { ok: true } | { ok: false; errno: string | undefined; message: string };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    await p;
    return { ok: true };
  } catch (err) {
    const e = err as ShoalError;
    if (e.code !== 'SHOAL_ERR_NFT') throw err;
    return { ok: false, errno: e.errno, message: e.message };
  }
}

const STEPS: Array<{ what: string; tx: string; fails?: boolean }> = [
  {
    what: 'create the table',
    tx: `add table inet shoal-t
add chain inet shoal-t prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain inet shoal-t output { type nat hook output priority -100; }
add chain inet shoal-t postrouting { type nat hook postrouting priority srcnat; }
add chain inet shoal-t input { type filter hook input priority 0; policy accept; }
add chain inet shoal-t svc-1
add chain inet shoal-t svc-2
add map inet shoal-t services { type ipv4_addr . inet_proto . inet_service : verdict; }
add map inet shoal-t backends-1 { typeof numgen inc mod 2 : ip daddr; }
add map inet shoal-t backends-2 { typeof numgen random mod 3 : ip daddr . tcp dport; }
add set inet shoal-t local { type ipv4_addr; flags interval; }
add set inet shoal-t local6 { type ipv6_addr; }
add set inet shoal-t protos { type inet_proto; }
add rule inet shoal-t prerouting ip daddr . meta l4proto . th dport vmap @services
add rule inet shoal-t output ip daddr . meta l4proto . th dport vmap @services
add rule inet shoal-t output ip daddr 127.0.0.11 udp dport 53 dnat ip to 127.0.0.11:35353
add rule inet shoal-t svc-1 meta l4proto tcp dnat ip to numgen inc mod 2 map @backends-1
add rule inet shoal-t postrouting ip saddr @local masquerade
add rule inet shoal-t input ct state established,related accept
add rule inet shoal-t input ip saddr { 10.0.0.1, 10.0.0.2 } meta l4proto { tcp, udp } counter
add rule inet shoal-t input meta mark 0x00000001 jump svc-2 comment "marked"
add element inet shoal-t services { 10.0.0.2 . tcp . 80 : goto svc-1, 10.0.0.3 . udp . 53 : jump svc-2 }
add element inet shoal-t backends-1 { 0 : 10.0.1.5, 1 : 10.0.1.6 }
add element inet shoal-t local { 10.0.0.0/24, 192.0.2.7, 198.51.100.1-198.51.100.9 }
add element inet shoal-t local6 { fd00:0::1, FD00::A }
add element inet shoal-t protos { 6, udp, 1, 58, 255 }
add element inet shoal-t backends-2 { 0 : 10.0.1.5 . 8080, 2 : 10.0.1.6 . 8081 }`,
  },
  {
    what: 'add is idempotent',
    tx: 'add table inet shoal-t\nadd chain inet shoal-t svc-1\nadd element inet shoal-t services { 10.0.0.2 . tcp . 80 : goto svc-1 }\nadd map inet shoal-t services { type ipv4_addr . inet_proto . inet_service : verdict; }',
  },
  {
    what: 'a bad last line: nothing applies',
    tx: 'add element inet shoal-t services { 10.0.0.4 . tcp . 443 : goto svc-1 }\nadd chain inet shoal-t svc-3\ncreate element inet shoal-t backends-1 { 0 : 10.0.1.7 }',
    fails: true,
  },
  { what: 'replace one backend', tx: 'delete element inet shoal-t backends-1 { 1 }\nadd element inet shoal-t backends-1 { 1 : 10.0.1.7 }' },
  { what: 'map data conflict', tx: 'add element inet shoal-t backends-1 { 0 : 10.0.1.9 }', fails: true },
  { what: 'create an existing table', tx: 'create table inet shoal-t', fails: true },
  { what: 'delete a missing element', tx: 'delete element inet shoal-t services { 10.9.9.9 . tcp . 1 }', fails: true },
  { what: 'delete a chain a map element jumps to', tx: 'delete chain inet shoal-t svc-1', fails: true },
  { what: 'delete a chain a rule jumps to', tx: 'flush chain inet shoal-t svc-2\ndelete chain inet shoal-t svc-2', fails: true },
  { what: 'delete a map a rule uses', tx: 'delete map inet shoal-t services', fails: true },
  { what: 'jump to a missing chain', tx: 'add rule inet shoal-t input jump nope', fails: true },
  { what: 'element jumps to a missing chain', tx: 'add element inet shoal-t services { 10.0.0.9 . tcp . 1 : goto nope }', fails: true },
  { what: 'dstnat on output', tx: 'add chain inet shoal-t o2 { type nat hook output priority dstnat; }', fails: true },
  { what: 'change a base chain hook', tx: 'add chain inet shoal-t input { type filter hook output priority 0; }', fails: true },
  { what: 'change a base chain type', tx: 'add chain inet shoal-t input { type nat hook input priority 0; }', fails: true },
  { what: 'policy on a regular chain', tx: 'add chain inet shoal-t svc-9 { policy drop; }', fails: true },
  { what: 'nat on forward', tx: 'add chain inet shoal-t f { type nat hook forward priority 0; }', fails: true },
  { what: 'set redefined', tx: 'add set inet shoal-t local { type ipv4_addr; }', fails: true },
  { what: 'interval overlap', tx: 'add element inet shoal-t local { 10.0.0.128/25 }', fails: true },
  { what: 'missing semicolon before }', tx: 'add chain inet shoal-t x { type filter hook input priority 0 }', fails: true },
  { what: 'flush map of a set', tx: 'flush map inet shoal-t local', fails: true },
  {
    what: 'policy change and masked prefix',
    tx: 'add chain inet shoal-t input { type filter hook input priority 0; policy drop; }\nadd element inet shoal-t local { 10.7.3.1/16 }',
  },
  { what: 'flush table keeps elements', tx: 'flush table inet shoal-t' },
  {
    what: 'now unreferenced: delete',
    tx: 'delete element inet shoal-t services { 10.0.0.2 . tcp . 80 }\ndelete chain inet shoal-t svc-1\ndelete map inet shoal-t backends-1\nflush map inet shoal-t services\ndelete chain inet shoal-t svc-2',
  },
  {
    what: 'full resync: delete and re-create in one transaction',
    tx: 'delete table inet shoal-t\nadd table inet shoal-t\nadd chain inet shoal-t c\nadd set inet shoal-t s { type ipv4_addr; }\nadd rule inet shoal-t c ip daddr @s counter',
  },
];

for (const backend of NFT_BACKENDS) {
  t.test(`${backend}: FakeNft and nft agree on every step`, async (t) => {
    if (!backendUsable(t, backend)) return;
    const netns = nlNetns(t, 'nft');
    if (!netns) return;
    const real = createNft(netns, { backend });
    const fake = new FakeNft();
    const dumpReal = async (): Promise<string> => {
      const table = await real.listTable('inet', 'shoal-t');
      if (!table) return '(none)';
      const text = (await real.listTableText('inet', 'shoal-t'))!;
      return canonicalNftTable(withRuleText(table.json, text));
    };
    const dumpFake = async (): Promise<string> => {
      const table = await fake.listTable('inet', 'shoal-t');
      return table ? canonicalNftTable(table.json) : '(none)';
    };
    for (const step of STEPS) {
      const before = await dumpReal();
      const r = await outcome(real.apply(step.tx));
      const f = await outcome(fake.apply(step.tx));
      t.equal(r.ok, !step.fails, `${step.what}: real ${step.fails ? 'fails' : 'applies'}${r.ok ? '' : `: ${r.message}`}`);
      t.equal(f.ok, r.ok, `${step.what}: fake agrees${f.ok ? '' : `: ${f.message}`}`);
      if (!r.ok && !f.ok) t.equal(f.errno, r.errno, `${step.what}: same errno`);
      const after = await dumpReal();
      if (!r.ok) t.equal(after, before, `${step.what}: real table unchanged`);
      t.equal(await dumpFake(), after, `${step.what}: same dump`);
    }
  });

  t.test(`${backend}: listTable, deleteTable, listTables, JSON transactions`, async (t) => {
    if (!backendUsable(t, backend)) return;
    const netns = nlNetns(t, 'nftapi');
    if (!netns) return;
    const real = createNft(netns, { backend });
    t.equal(real.backend, backend);
    t.equal(await real.listTable('inet', 'shoal-x'), undefined, 'a missing table');
    t.equal(await real.deleteTable('inet', 'shoal-x'), false, 'deleting a missing table is success');
    await real.apply({
      nftables: [{ add: { table: { family: 'ip', name: 'shoal-j' } } }, { add: { chain: { family: 'ip', table: 'shoal-j', name: 'c' } } }],
    });
    await real.apply('add table inet shoal-x\nadd table ip6 shoal-x');
    await real.apply('   \n');
    const tables = await real.listTables();
    t.same(tables.map((x) => `${x.family} ${x.name}`).sort(), ['inet shoal-x', 'ip shoal-j', 'ip6 shoal-x']);
    const j = await real.listTable('ip', 'shoal-j');
    t.same(j?.json, [
      { table: { family: 'ip', name: 'shoal-j', handle: (j!.json[0] as { table: { handle: number } }).table.handle } },
      { chain: { family: 'ip', table: 'shoal-j', name: 'c', handle: 1 } },
    ]);
    t.equal(await real.listTable('ip', 'shoal-x'), undefined, 'a table of that name in another family does not count');
    t.equal(await real.deleteTable('inet', 'shoal-x'), true);
    t.equal(await real.deleteTable('inet', 'shoal-x'), false);
    await t.rejects(real.apply({ nftables: [{ add: { chain: { family: 'ip', table: 'nope', name: 'c' } } }] }), {
      code: 'SHOAL_ERR_NFT',
      errno: 'ENOENT',
    });
    await t.rejects(real.apply('add table ip shoal-y\nthis is not nft'), { code: 'SHOAL_ERR_NFT', message: /syntax error/ });
    t.equal(await real.listTable('ip', 'shoal-y'), undefined, 'the table of a failed transaction does not exist');
    await t.rejects(real.listTable('inet', 'bad name'), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
    await t.rejects(createNft('nl-no-such-netns', { backend }).listTables(), {
      code: 'SHOAL_ERR_NETNS_NOT_FOUND',
      errno: 'ENOENT',
      message: 'network namespace nl-no-such-netns does not exist',
    });
  });
}
