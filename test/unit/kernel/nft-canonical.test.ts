import t from 'tap';
import { canonicalNftTable, isNftNoSuchObject, nftErrno, nftObjects, normalizeRuleText, withRuleText } from '../../../src/kernel/nft.ts';

// What nft 1.0.6 printed for a small table (`nft -j list table inet t` and `nft -a list table inet t`).
const REAL_JSON = {
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'inet', name: 't', handle: 1 } },
    {
      map: {
        family: 'inet',
        name: 'm',
        table: 't',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        handle: 3,
        map: 'verdict',
        elem: [[{ concat: ['10.0.0.1', 'tcp', 80] }, { goto: { target: 'svc' } }]],
      },
    },
    {
      set: {
        family: 'inet',
        name: 's',
        table: 't',
        type: 'ipv4_addr',
        handle: 4,
        flags: ['interval'],
        elem: [{ prefix: { addr: '10.0.0.0', len: 24 } }, { range: ['10.1.0.1', '10.1.0.9'] }, '10.0.1.1'],
      },
    },
    { chain: { family: 'inet', table: 't', name: 'c', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
    { chain: { family: 'inet', table: 't', name: 'svc', handle: 5 } },
    { rule: { family: 'inet', table: 't', chain: 'c', handle: 2, expr: [{ counter: { packets: 0, bytes: 0 } }, { accept: null }] } },
    { rule: { family: 'inet', table: 't', chain: 'c', handle: 6, expr: [{ accept: null }] } },
  ],
};

const REAL_TEXT = `table inet t { # handle 1
	map m { # handle 3
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.0.0.1 . tcp . 80 : goto svc }
	}

	set s { # handle 4
		type ipv4_addr
		flags interval
		elements = { 10.0.0.0/24, 10.1.0.1-10.1.0.9,
			     10.0.1.1 }
	}

	chain c { # handle 1
		type filter hook input priority filter; policy accept;
		counter packets 12 bytes 3400 accept # handle 2
		ip daddr { 10.0.0.1, 10.0.0.2 }   accept # handle 6
	}

	chain svc { # handle 5
	}
}
`;

t.test('canonical form of a real dump', async (t) => {
  const objects = nftObjects(REAL_JSON);
  t.equal(objects.length, 7, 'metainfo dropped');
  const text = canonicalNftTable(withRuleText(objects, REAL_TEXT));
  t.equal(
    text,
    [
      'table inet t',
      'chain inet t c type filter hook input prio 0 policy accept',
      '  rule counter accept',
      '  rule ip daddr { 10.0.0.1, 10.0.0.2 } accept',
      'chain inet t svc',
      'map inet t m type ipv4_addr . inet_proto . inet_service : verdict',
      '  element 10.0.0.1 . tcp . 80 : goto svc',
      'set inet t s type ipv4_addr flags interval',
      '  element 10.0.0.0/24',
      '  element 10.0.1.1',
      '  element 10.1.0.1-10.1.0.9',
    ].join('\n'),
  );
  // Without the text, rules show their JSON: never equal to a fake's text by accident.
  t.match(canonicalNftTable(objects), /rule expr \[\{"counter"/);
  // Order of objects does not matter, order of rules does.
  const shuffled = [...objects].reverse();
  const withText = withRuleText(shuffled, REAL_TEXT);
  t.not(canonicalNftTable(withText), text, 'reversed rules differ');
  const rulesInOrder = withText.filter((o) => 'rule' in (o as object)).reverse();
  const others = withText.filter((o) => !('rule' in (o as object)));
  t.equal(canonicalNftTable([...others, ...rulesInOrder]), text);
});

t.test('rule text normalisation', async (t) => {
  t.equal(normalizeRuleText('  ip daddr 10.0.0.1   counter packets 5 bytes 300 accept # handle 7'), 'ip daddr 10.0.0.1 counter accept');
  t.equal(normalizeRuleText('counter'), 'counter');
});

t.test('nft error messages', async (t) => {
  t.ok(isNftNoSuchObject('Error: No such file or directory\nlist table inet nope\n                ^^^^\n'));
  t.ok(isNftNoSuchObject("Error: No such file or directory; did you mean table 'shoal' in family inet?\n"));
  t.ok(isNftNoSuchObject('Error: Could not process rule: No such file or directory\ndelete table inet nope\n'));
  t.notOk(isNftNoSuchObject('Error: Could not process rule: Operation not permitted\n'));
  t.notOk(isNftNoSuchObject('netlink: Error: cache initialization failed: No such file or directory\n'));
  t.equal(nftErrno('/dev/stdin:3:1-5: Error: Could not process rule: File exists\nadd ...\n'), 'EEXIST');
  t.equal(
    nftErrno(
      '/dev/stdin:1:5: Error: syntax error, unexpected }\n/dev/stdin:2:1: Error: Could not process rule: No such file or directory\n',
    ),
    undefined,
    'only the first error counts',
  );
  t.equal(nftErrno('/dev/stdin:1:19-21: Error: Could not process rule: Device or resource busy\n'), 'EBUSY');
});
