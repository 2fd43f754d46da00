import t, { type Test } from 'tap';
import { isShoalError, type ShoalError } from '../../../src/common/errors.ts';
import { FakeNft } from '../../../src/kernel/fake-nft.ts';
import { canonicalNftTable } from '../../../src/kernel/nft.ts';

const BASE = `
# shoal's table, as a planner would write it
add table inet shoal
add chain inet shoal prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain inet shoal output { type nat hook output priority -100; }
add chain inet shoal svc-1
add map inet shoal services { type ipv4_addr . inet_proto . inet_service : verdict; }
add map inet shoal backends-1 { typeof numgen inc mod 2 : ip daddr; }
add set inet shoal local { type ipv4_addr; flags interval; }
add rule inet shoal prerouting ip daddr . meta l4proto . th dport vmap @services
add rule inet shoal output ip daddr . meta l4proto . th dport vmap @services
add rule inet shoal svc-1 dnat ip to numgen inc mod 2 map @backends-1
add element inet shoal services { 10.0.0.2 . tcp . 80 : goto svc-1 }
add element inet shoal backends-1 { 0 : 10.0.1.5, 1 : 10.0.1.6 }
add element inet shoal local { 10.0.0.0/24, 192.0.2.1 }
`;

async function fresh(): Promise<FakeNft> {
  const nft = new FakeNft();
  await nft.apply(BASE);
  return nft;
}

async function rejects(t: Test, nft: FakeNft, tx: string, errno: string | undefined, pattern: RegExp): Promise<ShoalError> {
  const before = nft.dump();
  const err = await nft.apply(tx).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isShoalError(err, 'SHOAL_ERR_NFT'), `rejects: ${tx.trim().split('\n').pop()}`);
  const e = err as ShoalError;
  t.equal(e.errno, errno, 'errno');
  t.match(e.message, pattern);
  t.equal(nft.dump(), before, 'nothing changed');
  return e;
}

t.test('applies the subset and dumps in nft JSON shape', async (t) => {
  const nft = await fresh();
  const dump = await nft.listTable('inet', 'shoal');
  t.ok(dump);
  t.equal(
    canonicalNftTable(dump!.json),
    [
      'table inet shoal',
      'chain inet shoal output type nat hook output prio -100 policy accept',
      '  rule ip daddr . meta l4proto . th dport vmap @services',
      'chain inet shoal prerouting type nat hook prerouting prio -100 policy accept',
      '  rule ip daddr . meta l4proto . th dport vmap @services',
      'chain inet shoal svc-1',
      '  rule dnat ip to numgen inc mod 2 map @backends-1',
      'map inet shoal backends-1 type integer : ipv4_addr',
      '  element 0 : 10.0.1.5',
      '  element 1 : 10.0.1.6',
      'set inet shoal local type ipv4_addr flags interval',
      '  element 10.0.0.0/24',
      '  element 192.0.2.1',
      'map inet shoal services type ipv4_addr . inet_proto . inet_service : verdict',
      '  element 10.0.0.2 . tcp . 80 : goto svc-1',
    ].join('\n'),
  );
  const services = dump!.json.find((o) => (o as { map?: { name: string } }).map?.name === 'services') as { map: Record<string, unknown> };
  t.same(services.map['type'], ['ipv4_addr', 'inet_proto', 'inet_service']);
  t.same(services.map['elem'], [[{ concat: ['10.0.0.2', 'tcp', 80] }, { goto: { target: 'svc-1' } }]]);
  t.same(await nft.listTables(), [{ family: 'inet', name: 'shoal' }]);
  t.equal(await nft.listTable('inet', 'nope'), undefined);
  t.equal(await nft.listTable('ip', 'shoal'), undefined, 'family is part of the identity');
});

t.test('a failed transaction changes nothing, whichever line fails', async (t) => {
  const nft = await fresh();
  await rejects(
    t,
    nft,
    `add element inet shoal services { 10.0.0.3 . tcp . 80 : goto svc-1 }
add chain inet shoal svc-2
create element inet shoal services { 10.0.0.2 . tcp . 80 : goto svc-1 }`,
    'EEXIST',
    /line 3: .*File exists/,
  );
  t.equal(nft.applied.length, 1, 'only the first transaction is recorded');
  t.equal(nft.applyCalls, 2);
});

t.test('add is idempotent, create is exclusive', async (t) => {
  const nft = await fresh();
  const before = nft.dump();
  await nft.apply(BASE);
  t.equal(nft.dump(), before.replace(/( {2}rule .*\n)/g, '$1$1'), 'rules are appended again, everything else is unchanged');
  await rejects(t, nft, 'create table inet shoal', 'EEXIST', /File exists/);
  await rejects(t, nft, 'create chain inet shoal svc-1', 'EEXIST', /File exists/);
  await rejects(
    t,
    nft,
    'create map inet shoal services { type ipv4_addr . inet_proto . inet_service : verdict; }',
    'EEXIST',
    /File exists/,
  );
  await rejects(t, nft, 'add map inet shoal services { type ipv4_addr : verdict; }', 'EEXIST', /another definition/);
  await rejects(t, nft, 'add set inet shoal local { type ipv4_addr; }', 'EEXIST', /another definition/);
  await rejects(t, nft, 'add element inet shoal services { 10.0.0.2 . tcp . 80 : jump svc-1 }', 'EEXIST', /other data/);
});

t.test('references: busy chains and sets, missing targets', async (t) => {
  const nft = await fresh();
  await rejects(t, nft, 'delete chain inet shoal svc-1', 'EBUSY', /in use/);
  await rejects(t, nft, 'delete map inet shoal services', 'EBUSY', /in use/);
  await rejects(t, nft, 'add rule inet shoal output ip daddr @nope accept', 'ENOENT', /set nope/);
  await rejects(t, nft, 'add rule inet shoal output jump nope', 'ENOENT', /chain nope/);
  await rejects(t, nft, 'add element inet shoal services { 10.0.0.9 . udp . 53 : goto nope }', 'ENOENT', /chain nope/);
  await rejects(t, nft, 'add rule inet shoal nope accept', 'ENOENT', /chain nope/);
  await rejects(t, nft, 'add rule inet nope output accept', 'ENOENT', /table inet nope/);
  // Once nothing refers to them they can go, in the same transaction.
  await nft.apply(`delete element inet shoal services { 10.0.0.2 . tcp . 80 }
flush chain inet shoal svc-1
delete chain inet shoal svc-1
delete map inet shoal backends-1
flush chain inet shoal prerouting
flush chain inet shoal output
delete map inet shoal services`);
  const text = nft.dump();
  t.notMatch(text, /svc-1|services|backends-1/);
});

t.test('deleting a chain deletes its rules and releases what they referenced', async (t) => {
  const nft = await fresh();
  await nft.apply(
    'delete chain inet shoal prerouting\ndelete chain inet shoal output\ndelete map inet shoal services\ndelete chain inet shoal svc-1',
  );
  t.notMatch(nft.dump(), /prerouting|services|svc-1/);
});

t.test('flush table removes rules and keeps set elements', async (t) => {
  const nft = await fresh();
  await nft.apply('flush table inet shoal');
  const text = nft.dump();
  t.notMatch(text, /rule /);
  t.match(text, /element 10\.0\.0\.2 \. tcp \. 80 : goto svc-1/);
  t.match(text, /chain inet shoal prerouting type nat/);
});

t.test('delete and re-create a table in one transaction (full resync)', async (t) => {
  const nft = await fresh();
  await nft.apply(`delete table inet shoal\n${BASE}`);
  const again = await fresh();
  t.equal(nft.dump(), again.dump());
  await rejects(t, nft, 'delete table inet nope', 'ENOENT', /No such file/);
  await rejects(t, nft, 'flush table inet nope', 'ENOENT', /No such file/);
  t.equal(await nft.deleteTable('inet', 'shoal'), true);
  t.equal(await nft.deleteTable('inet', 'shoal'), false, 'deleting a missing table is success');
  t.same(await nft.listTables(), []);
});

t.test('elements: delete, types, canonical values', async (t) => {
  const nft = await fresh();
  await nft.apply(`add set inet shoal v6 { type ipv6_addr; }
add element inet shoal v6 { fd00:0:0::1, FD00::A, 2001:db8::1:0:0:1 }
add set inet shoal protos { type inet_proto; }
add element inet shoal protos { 6, udp, 1, 255 }
add set inet shoal marks { type mark; }
add element inet shoal marks { 1, 0x10 }
add set inet shoal macs { type ether_addr; }
add element inet shoal macs { 02:42:0A:00:01:05 }
add map inet shoal dnat { typeof ip daddr . tcp dport : ip daddr . tcp dport; }
add element inet shoal dnat { 10.0.0.2 . 80 : 10.0.1.5 . 8080 }`);
  const text = nft.dump();
  for (const line of [
    '  element fd00::1',
    '  element fd00::a',
    '  element 2001:db8::1:0:0:1',
    '  element tcp',
    '  element udp',
    '  element icmp',
    '  element 255',
    '  element 1',
    '  element 16',
    '  element 02:42:0a:00:01:05',
    'map inet shoal dnat type ipv4_addr . inet_service : ipv4_addr . inet_service',
    '  element 10.0.0.2 . 80 : 10.0.1.5 . 8080',
  ]) {
    t.ok(text.split('\n').includes(line), line);
  }
  await nft.apply('delete element inet shoal backends-1 { 1 }\nadd element inet shoal backends-1 { 1 : 10.0.1.7 }');
  t.match(nft.dump(), /element 1 : 10\.0\.1\.7/);
  await rejects(t, nft, 'delete element inet shoal backends-1 { 5 }', 'ENOENT', /No such file/);
  await rejects(t, nft, 'add element inet shoal local { 10.0.0.128/25 }', undefined, /overlaps/);
  await nft.apply('add element inet shoal local { 10.0.0.0-10.0.0.255 }');
  t.pass('re-adding an interval in another notation is a no-op');
  await nft.apply('add element inet shoal local { 10.9.0.1/16 }');
  t.match(nft.dump(), /element 10\.9\.0\.0\/16/, 'host bits are masked, as nft does');
  await rejects(t, nft, 'add element inet shoal v6 { 10.0.0.1 }', undefined, /not a valid ipv6_addr/);
  await rejects(t, nft, 'add element inet shoal services { 10.0.0.1 . tcp : accept }', undefined, /part/);
  await rejects(t, nft, 'add element inet shoal services { 10.0.0.1 . tcp . http : accept }', undefined, /service names/);
  await rejects(t, nft, 'add element inet shoal protos { 256 }', undefined, /out of range/);
  await rejects(t, nft, 'add element inet shoal v6 { fd00::/64 }', undefined, /flags interval/);
  await rejects(t, nft, 'add element inet shoal local { 10.0.0.1 : accept }', undefined, /not a map/);
  await rejects(t, nft, 'add element inet shoal services { 10.0.0.1 . tcp . 80 }', 'EINVAL', /without data/);
  await rejects(t, nft, 'add element inet shoal nope { 1 }', 'ENOENT', /No such file/);
  await rejects(t, nft, 'flush set inet shoal services', 'ENOENT', /No such file/);
  await nft.apply('flush map inet shoal backends-1');
  t.notMatch(nft.dump(), /element 0 : 10\.0\.1\.5/);
});

t.test('chains: priorities, hooks, policy changes', async (t) => {
  const nft = await fresh();
  await nft.apply(`add chain inet shoal post { type nat hook postrouting priority srcnat; }
add chain inet shoal fwd { type filter hook forward priority mangle; policy drop; }
add chain inet shoal in { type filter hook input priority filter + 10; }
add chain inet shoal prerouting { type nat hook prerouting priority -100; policy drop; }`);
  const text = nft.dump();
  t.match(text, /chain inet shoal post type nat hook postrouting prio 100 policy accept/);
  t.match(text, /chain inet shoal fwd type filter hook forward prio -150 policy drop/);
  t.match(text, /chain inet shoal in type filter hook input prio 10 policy accept/);
  t.match(
    text,
    /chain inet shoal prerouting type nat hook prerouting prio -100 policy drop/,
    'add of an existing base chain changes its policy',
  );
  await rejects(t, nft, 'add chain inet shoal x { type nat hook output priority dstnat; }', undefined, /invalid priority expression/);
  await rejects(t, nft, 'add chain inet shoal x { type nat hook input priority srcnat; }', undefined, /invalid priority expression/);
  await rejects(t, nft, 'add chain inet shoal prerouting { type filter hook prerouting priority -100; }', 'EEXIST', /File exists/);
  await rejects(
    t,
    nft,
    'add chain inet shoal prerouting { type nat hook prerouting priority 0; }',
    'EOPNOTSUPP',
    /Operation not supported/,
  );
  await rejects(t, nft, 'add chain inet shoal svc-1 { type filter hook forward priority 0; }', 'EEXIST', /File exists/);
  await rejects(t, nft, 'add chain inet shoal y { policy drop; }', 'EOPNOTSUPP', /regular chain/);
  await rejects(t, nft, 'add chain inet shoal y { type nat hook forward priority 0; }', 'EOPNOTSUPP', /Operation not supported/);
  await rejects(t, nft, 'add chain inet shoal y { type route hook input priority 0; }', 'EOPNOTSUPP', /Operation not supported/);
  await rejects(t, nft, 'add chain inet shoal y { type filter hook input priority 0 }', undefined, /expecting newline or semicolon/);
  await rejects(t, nft, 'add map inet shoal y { type ipv4_addr : verdict }', undefined, /expecting newline or semicolon/);
});

t.test('syntax: comments, several statements a line, multi-line braces', async (t) => {
  const nft = new FakeNft();
  await nft.apply(`add table ip t ; add chain ip t c # trailing comment
add chain ip t base {
  type filter hook input priority 0;
  policy drop
}
add map ip t m { type ipv4_addr : ipv4_addr; }
add element ip t m {
  10.0.0.1 : 10.0.1.1,
  10.0.0.2: 10.0.1.2
}
add rule ip t c ip saddr { 10.0.0.1, 10.0.0.2 } meta l4proto { tcp, udp } counter comment "a # in a string"
add table t2`);
  const dump = nft.dump();
  t.match(dump, /chain ip t base type filter hook input prio 0 policy drop/);
  t.match(dump, /element 10\.0\.0\.2 : 10\.0\.1\.2/);
  t.match(dump, /rule ip saddr \{ 10\.0\.0\.1, 10\.0\.0\.2 \} meta l4proto \{ tcp, udp \} counter comment "a # in a string"/);
  t.match(dump, /^table ip t2$/m, 'the family defaults to ip');
});

t.test('statements outside the subset are refused with their line', async (t) => {
  const nft = await fresh();
  const cases: Array<[string, RegExp]> = [
    ['add table inet x\nlist ruleset', /line 2: .*outside the subset/],
    ['destroy table inet shoal', /destroy.*not supported by nft 1\.0\.6/],
    ['add table bridge b', /family bridge is outside/],
    ['insert rule inet shoal output accept', /outside the subset/],
    ['add set inet shoal x { type ipv4_addr; timeout 10s; }', /outside the subset/],
    ['add set inet shoal x { type ipv4_addr; flags dynamic; }', /flag dynamic is outside/],
    ['add map inet shoal x { typeof jhash ip saddr mod 2 : ip daddr; }', /outside the subset/],
    ['add chain inet shoal x { type filter hook ingress priority 0; }', /hook ingress is outside/],
    ['add table inet shoal { flags dormant; }', /table options/],
    ['add table inet x\nadd chain inet x c {', /missing '}'/],
    ['flush ruleset', /outside the subset/],
  ];
  for (const [tx, re] of cases) await rejects(t, nft, tx, undefined, re);
  const err = await nft.apply({ nftables: [] }).then(
    () => undefined,
    (e: unknown) => e as ShoalError,
  );
  t.equal(err?.code, 'SHOAL_ERR_NFT');
  t.match(err?.message, /script text only/);
});

t.test('failNextApply injects one failure', async (t) => {
  const nft = await fresh();
  nft.failNextApply();
  await t.rejects(nft.apply('add chain inet shoal x'), { code: 'SHOAL_ERR_NFT', errno: 'EBUSY' });
  await nft.apply('add chain inet shoal x');
  t.match(nft.dump(), /chain inet shoal x$/m);
});
