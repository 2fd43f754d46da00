/**
 * Stable interface names: a new sandbox is numbered in attachment order then egress; a
 * network attached later takes the lowest free eth<N>; a detached one frees its name and
 * renames nothing; the names survive a restart (the file).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EGRESS_KEY } from '../../../src/agent/dataplane-model.ts';
import { SandboxIfnames } from '../../../src/agent/sandbox-ifnames.ts';

const obj = (m: ReadonlyMap<string, string>): Record<string, string> => Object.fromEntries(m);

t.test('names stay put as networks come and go', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-ifnames-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ifnames.json');
  const n = new SandboxIfnames(file);
  t.same(obj(n.assign('t1', ['a', 'b', EGRESS_KEY])), { a: 'eth0', b: 'eth1', [EGRESS_KEY]: 'eth2' }, 'Docker order for a new sandbox');
  t.same(
    obj(n.assign('t1', ['a', 'b', 'c', EGRESS_KEY])),
    { a: 'eth0', b: 'eth1', c: 'eth3', [EGRESS_KEY]: 'eth2' },
    'an added network takes a new name',
  );
  t.same(obj(n.assign('t1', ['a', 'c', EGRESS_KEY])), { a: 'eth0', c: 'eth3', [EGRESS_KEY]: 'eth2' }, 'a removed network renames nothing');
  t.same(
    obj(n.assign('t1', ['a', 'c', 'd', EGRESS_KEY])),
    { a: 'eth0', c: 'eth3', d: 'eth1', [EGRESS_KEY]: 'eth2' },
    'the freed name is reused',
  );
  const again = new SandboxIfnames(file);
  t.same(
    obj(again.assign('t1', ['a', 'c', 'd', EGRESS_KEY])),
    { a: 'eth0', c: 'eth3', d: 'eth1', [EGRESS_KEY]: 'eth2' },
    'the same after a restart',
  );
  again.retain(new Set());
  t.same(obj(new SandboxIfnames(file).assign('t1', ['d'])), { d: 'eth0' }, 'a forgotten sandbox starts afresh');
});
