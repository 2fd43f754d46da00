/**
 * Conformance of nftRuleExprText() (src/kernel/nft-expr-text.ts) with nft 1.0.6: tables
 * holding every rule form the printer knows (the load balancer's whole table among them)
 * are loaded into a throwaway namespace; for each rule, the text printed from its `nft -j`
 * expressions must be nft's own listing of it, and the canonical text of the JSON dump with
 * printed rules must equal the one built from both listings. FakeNft, given the same
 * script, must print the same canonical text: the fake and the kernel agree on these rules.
 */
import t from 'tap';
import { FakeNft } from '../../../src/kernel/fake-nft.ts';
import { canonicalNftTable, createNft, normalizeRuleText, withRuleText } from '../../../src/kernel/nft.ts';
import { nftRuleExprText, withExprText } from '../../../src/kernel/nft-expr-text.ts';
import { planVip } from '../../../src/vip/plan.ts';
import { rewriteScript } from '../../../src/vip/table-state.ts';
import { throwawayNetns } from '../../support/kernel.ts';

const INET = `add table inet shoal-x
add chain inet shoal-x nat-pre { type nat hook prerouting priority -100; policy accept; }
add chain inet shoal-x nat-post { type nat hook postrouting priority 100; policy accept; }
add chain inet shoal-x filter-in { type filter hook input priority 0; policy accept; }
add chain inet shoal-x filter-fwd { type filter hook forward priority 0; policy accept; }
add chain inet shoal-x svc
add set inet shoal-x nets { type ipv4_addr; flags interval; }
add map inet shoal-x pick { typeof numgen inc mod 2 : ip daddr; }
add rule inet shoal-x nat-post ip saddr 10.0.0.0/24 oifname != "br0" masquerade
add rule inet shoal-x filter-fwd iifname "br0" oifname "br0" drop
add rule inet shoal-x filter-in ct state established,related accept
add rule inet shoal-x filter-in ct state invalid drop
add rule inet shoal-x filter-in meta mark 0x00000001 jump svc comment "marked"
add rule inet shoal-x filter-in ip saddr { 10.0.0.1, 10.0.0.2 } meta l4proto { tcp, udp } counter
add rule inet shoal-x filter-in ip saddr @nets tcp dport 22 accept
add rule inet shoal-x filter-in ip daddr != 10.0.0.0/8 udp dport 1000-2000 drop
add rule inet shoal-x filter-in tcp dport 80 reject with tcp reset
add rule inet shoal-x filter-in udp dport 81 reject
add rule inet shoal-x filter-in udp dport 82 reject with icmpx host-unreachable
add rule inet shoal-x filter-in th dport 83 return
add rule inet shoal-x nat-pre ip daddr 127.0.0.11 udp dport 53 dnat ip to 127.0.0.11:35353
add rule inet shoal-x nat-pre ip daddr 10.0.0.5 dnat ip to numgen inc mod 2 offset 1 map @pick
add rule inet shoal-x svc continue
`;

const IP = `add table ip shoal-y
add chain ip shoal-y c { type filter hook input priority 0; policy drop; }
add chain ip shoal-y n { type nat hook output priority -100; policy accept; }
add rule ip shoal-y c udp dport 84 reject with icmp host-unreachable
add rule ip shoal-y c meta l4proto tcp reject
add rule ip shoal-y n tcp dport 8080 dnat to 10.0.0.7
add rule ip shoal-y n ip daddr 10.0.0.8 tcp dport 80 dnat to 10.0.0.9:8080
add rule ip shoal-y n fib daddr type local tcp dport { 8080, 8081 } dnat to 172.18.0.2
add chain ip shoal-y p { type nat hook postrouting priority 100; policy accept; }
add rule ip shoal-y p oifname "gw0" ct status dnat fib saddr type local masquerade
add rule ip shoal-y p oifname "eth0" ct status dnat masquerade
`;

const VIP = planVip({
  tableName: 'shoal-z',
  services: [
    {
      id: 'web',
      vip: '10.0.0.2',
      ports: [
        { protocol: 'tcp', port: 80, targetPort: 8080 },
        { protocol: 'udp', port: 53, targetPort: 5353 },
      ],
      backends: [
        { ip: '10.1.0.2', healthy: true },
        { ip: '10.1.0.3', healthy: true },
      ],
    },
    { id: 'none', vip: '10.0.0.3', ports: [{ protocol: 'tcp', port: 443, targetPort: 443 }], backends: [] },
  ],
});

t.test('rule text printed from nft -j matches nft list', async (t) => {
  const netns = throwawayNetns(t, 'exprtext');
  if (!netns) return;
  const real = createNft(netns);
  const tables: Array<[string, string, string]> = [
    ['inet', 'shoal-x', INET],
    ['ip', 'shoal-y', IP],
    ['ip', 'shoal-z', rewriteScript(VIP.state)],
  ];
  for (const [family, name, script] of tables) {
    await real.apply(script);
    const dump = (await real.listTable(family, name))!;
    const listing = (await real.listTableText(family, name))!;
    const withText = withRuleText(dump.json, listing);
    let rules = 0;
    for (const o of withText) {
      const rule = (o as { rule?: { expr: unknown[]; text?: string; comment?: string; chain: string } }).rule;
      if (!rule) continue;
      rules++;
      const printed = nftRuleExprText(family, rule.expr, rule.comment);
      t.equal(printed, normalizeRuleText(rule.text ?? ''), `${family} ${name} ${rule.chain}: ${rule.text}`);
    }
    t.ok(rules > 0, `${name}: rules were compared`);
    const fromJson = canonicalNftTable(withExprText(dump.json));
    t.equal(fromJson, canonicalNftTable(withText), `${name}: canonical text from one JSON listing equals the one from both listings`);
    const fake = new FakeNft();
    await fake.apply(script);
    t.equal(canonicalNftTable((await fake.listTable(family, name))!.json), fromJson, `${name}: FakeNft prints the same table`);
  }
});
