/**
 * nftRuleExprText() on expression lists as nft 1.0.6 prints them with `nft -j` (copied from
 * the kernel run of test/kernel/conformance/nft-expr-text.test.ts, which checks the same
 * forms against nft's own listing), and the forms it must refuse rather than guess.
 */
import t from 'tap';
import { canonicalNftTable } from '../../../src/kernel/nft.ts';
import { nftRuleExprText, withExprText } from '../../../src/kernel/nft-expr-text.ts';

const ip = (field: string) => ({ payload: { protocol: 'ip', field } });
const port = (protocol: string, field = 'dport') => ({ payload: { protocol, field } });
const meta = (key: string) => ({ meta: { key } });
const eq = (left: unknown, right: unknown) => ({ match: { op: '==', left, right } });

const PRINTED: Array<[string, string, unknown[], string?]> = [
  [
    'vmap over a concatenation',
    'ip daddr . meta l4proto . th dport vmap @services',
    [{ vmap: { key: { concat: [ip('daddr'), meta('l4proto'), port('th')] }, data: '@services' } }],
  ],
  [
    'anonymous set, set lookup, goto',
    'meta l4proto { tcp, udp } ip daddr @vips goto refuse',
    [eq(meta('l4proto'), { set: ['tcp', 'udp'] }), eq(ip('daddr'), '@vips'), { goto: { target: 'refuse' } }],
  ],
  [
    'dnat through a map keyed by numgen',
    'dnat ip to ip daddr . tcp dport . numgen random mod 3 map @backends-tcp',
    [
      {
        dnat: {
          family: 'ip',
          addr: {
            map: { key: { concat: [ip('daddr'), port('tcp'), { numgen: { mode: 'random', mod: 3, offset: 0 } }] }, data: '@backends-tcp' },
          },
        },
      },
    ],
  ],
  ['reject with tcp reset', 'reject with tcp reset', [{ reject: { type: 'tcp reset' } }]],
  ['the ip default reject', 'reject', [{ reject: { type: 'icmp', expr: 'port-unreachable' } }]],
  [
    'the inet default reject',
    'udp dport 81 reject',
    [eq(port('udp'), 81), { reject: { type: 'icmpx', expr: 'port-unreachable' } }],
    'inet',
  ],
  [
    'another icmpx code',
    'udp dport 82 reject with icmpx host-unreachable',
    [eq(port('udp'), 82), { reject: { type: 'icmpx', expr: 'host-unreachable' } }],
    'inet',
  ],
  ['an icmp code', 'reject with icmp host-unreachable', [{ reject: { type: 'icmp', expr: 'host-unreachable' } }]],
  [
    'dnat to an address and port',
    'udp dport 53 dnat ip to 127.0.0.11:35353',
    [eq(port('udp'), 53), { dnat: { family: 'ip', addr: '127.0.0.11', port: 35353 } }],
    'inet',
  ],
  ['dnat without family', 'tcp dport 8080 dnat to 10.0.0.7', [eq(port('tcp'), 8080), { dnat: { addr: '10.0.0.7' } }]],
  [
    'numgen inc with an offset',
    'dnat ip to numgen inc mod 2 offset 1 map @pick',
    [{ dnat: { family: 'ip', addr: { map: { key: { numgen: { mode: 'inc', mod: 2, offset: 1 } }, data: '@pick' } } } }],
    'inet',
  ],
  [
    'prefix, quoted interface, masquerade',
    'ip saddr 10.0.0.0/24 oifname != "br0" masquerade',
    [
      eq(ip('saddr'), { prefix: { addr: '10.0.0.0', len: 24 } }),
      { match: { op: '!=', left: meta('oifname'), right: 'br0' } },
      { masquerade: null },
    ],
  ],
  [
    'ct state flags',
    'ct state established,related accept',
    [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }],
  ],
  ['one ct state', 'ct state invalid drop', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'invalid' } }, { drop: null }]],
  ['a mark, a jump, a comment', 'meta mark 0x00000001 jump svc comment "marked"', [eq(meta('mark'), 1), { jump: { target: 'svc' } }]],
  [
    'a counter',
    'ip saddr { 10.0.0.1, 10.0.0.2 } counter',
    [eq(ip('saddr'), { set: ['10.0.0.1', '10.0.0.2'] }), { counter: { packets: 5, bytes: 300 } }],
  ],
  ['a port range', 'udp dport 1000-2000 drop', [eq(port('udp'), { range: [1000, 2000] }), { drop: null }]],
  ['continue', 'continue', [{ continue: null }]],
];

t.test('prints what nft prints', async (t) => {
  for (const [what, text, expr, family] of PRINTED) {
    const comment = what.includes('comment') ? 'marked' : undefined;
    t.equal(nftRuleExprText(family ?? 'ip', expr, comment), text, what);
  }
});

t.test('refuses what it cannot be sure of', async (t) => {
  const refused: Array<[string, unknown[]]> = [
    ['an empty rule', []],
    ['an unknown statement', [{ log: { prefix: 'x' } }]],
    ['an unknown expression', [eq({ jhash: { mod: 2 } }, 1)]],
    ['a number where no port is', [eq(ip('daddr'), 5)]],
    ['a string where a port is', [eq(port('tcp'), 'http')]],
    ['an unknown operator', [{ match: { op: '<', left: port('tcp'), right: 80 } }]],
    ['a meta key with unknown printing', [eq(meta('skuid'), 0)]],
    ['an anonymous vmap', [{ vmap: { key: ip('daddr'), data: { set: [] } } }]],
    ['masquerade to ports', [{ masquerade: { port: 1000 } }]],
    ['a quote in an interface name', [eq(meta('iifname'), 'a"b')]],
    ['a raw payload', [eq({ payload: { base: 'th', offset: 16, len: 16 } }, 80), { return: null }]],
  ];
  for (const [what, expr] of refused) t.equal(nftRuleExprText('ip', expr), undefined, what);
  t.equal(nftRuleExprText('ip', [{ accept: null }], 'a "quoted" comment'), undefined, 'a comment it cannot quote');
});

t.test('withExprText fills rules that have no text and keeps the others', async (t) => {
  const json = [
    { table: { family: 'ip', name: 'x', handle: 1 } },
    { chain: { family: 'ip', table: 'x', name: 'c', handle: 1 } },
    { rule: { family: 'ip', table: 'x', chain: 'c', handle: 2, expr: [{ accept: null }], comment: 'ok' } },
    { rule: { family: 'ip', table: 'x', chain: 'c', handle: 3, text: 'drop' } },
    { rule: { family: 'ip', table: 'x', chain: 'c', handle: 4, expr: [{ log: {} }] } },
  ];
  t.equal(
    canonicalNftTable(withExprText(json)),
    ['table ip x', 'chain ip x c', '  rule accept comment "ok"', '  rule drop', '  rule expr [{"log":{}}]'].join('\n'),
  );
  t.equal((json[2] as { rule: { text?: string } }).rule.text, undefined, 'the input is not changed');
});
