/**
 * nft through libnftables in this process (src/kernel/nft-lib.ts) against the nft tool, on
 * the real kernel in throwaway namespaces `nl-*`: the same calls give the same results and
 * the same errors; a call lands in its own namespace only, also when many are issued at
 * once for different namespaces; the pool threads that entered namespaces come back (a
 * call for '' sees the namespace this process runs in, which is only read, never
 * changed); a call that outlives its timeout is rejected while its thread finishes.
 * Needs root and network namespaces; in CI their absence, or libnftables', is a failure.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import t, { type Test } from 'tap';
import type { ShoalError } from '../../src/common/errors.ts';
import { createNft } from '../../src/kernel/nft.ts';
import { libnftablesUnavailable, nftBackend } from '../../src/kernel/nft-lib.ts';
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

/** False (the test skipped, or failed in CI) when libnftables cannot run here. */
function libraryUsable(t: Test): boolean {
  const why = libnftablesUnavailable();
  if (why === undefined) return true;
  if (isCi(process.env)) t.fail(`libnftables: ${why}`);
  else t.plan(0, `libnftables: ${why}`);
  return false;
}

async function failure(p: Promise<unknown>): Promise<ShoalError> {
  try {
    await p;
  } catch (err) {
    return err as ShoalError;
  }
  throw new Error('expected a rejection');
}

/** A table of `n` set elements 10.x.y.z, as one script. */
function bigTable(table: string, n: number): string {
  const elems: string[] = [];
  for (let i = 0; i < n; i++) elems.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  return `add table ip ${table}\nadd set ip ${table} s { type ipv4_addr; }\nadd element ip ${table} s { ${elems.join(', ')} }\n`;
}

t.test('the backend choice: SHOAL_NFT, else the library when it loads', async (t) => {
  if (!libraryUsable(t)) return;
  t.equal(nftBackend(undefined, {}), 'library');
  t.equal(nftBackend(undefined, { SHOAL_NFT: 'exec' }), 'exec');
  t.equal(nftBackend(undefined, { SHOAL_NFT: 'library' }), 'library');
  t.equal(nftBackend('exec', { SHOAL_NFT: 'library' }), 'exec', 'an explicit option wins over the variable');
  t.throws(() => nftBackend(undefined, { SHOAL_NFT: 'nft' }), { code: 'SHOAL_ERR_INVALID_ARGUMENT', message: /SHOAL_NFT="nft"/ });
  t.equal(createNft('').backend, process.env['SHOAL_NFT'] === 'exec' ? 'exec' : 'library');
});

t.test('a failing transaction: the same code, errno and message on both backends', async (t) => {
  if (!libraryUsable(t)) return;
  const netns = nlNetns(t, 'err');
  if (!netns) return;
  const lib = createNft(netns, { backend: 'library' });
  const tool = createNft(netns, { backend: 'exec' });
  await lib.apply('add table inet nl-t\nadd chain inet nl-t c\nadd set inet nl-t s { type ipv4_addr; }');
  const cases = [
    {
      what: 'a syntax error on line 2',
      tx: 'add table ip nl-y\nthis is not nft\n',
      message: /\/dev\/stdin:2:\d+-\d+: Error: syntax error/,
    },
    {
      what: 'an existing table',
      tx: 'add table ip nl-y\ncreate table inet nl-t',
      errno: 'EEXIST',
      message: /\/dev\/stdin:2:.*File exists\ncreate table inet nl-t/,
    },
    { what: 'a missing chain', tx: 'add rule inet nl-t nope counter', errno: 'ENOENT', message: /No such file or directory/ },
    { what: 'a bad element', tx: 'add element inet nl-t s { 10.0.0.1/33 }', message: /Error: Prefix length 33 is invalid/ },
  ];
  for (const c of cases) {
    const a = await failure(lib.apply(c.tx));
    const b = await failure(tool.apply(c.tx));
    t.equal(a.code, 'SHOAL_ERR_NFT', `${c.what}: SHOAL_ERR_NFT`);
    t.match(a.message, c.message, `${c.what}: the message names the problem: ${a.message}`);
    t.equal(a.message, b.message, `${c.what}: the tool's message`);
    t.equal(a.errno, b.errno, `${c.what}: the tool's errno`);
    if (c.errno) t.equal(a.errno, c.errno, `${c.what}: errno ${c.errno}`);
    t.equal(a.details['exitCode'], 1, `${c.what}: exit code 1`);
  }
  t.equal(await lib.listTable('ip', 'nl-y'), undefined, 'nothing of the failed transactions applied');
  const badJson = await failure(lib.apply({ nftables: [{ add: { chain: { family: 'ip', table: 'nope', name: 'c' } } }] }));
  const badJsonTool = await failure(tool.apply({ nftables: [{ add: { chain: { family: 'ip', table: 'nope', name: 'c' } } }] }));
  t.match(badJson, { code: 'SHOAL_ERR_NFT', errno: 'ENOENT' });
  t.equal(badJson.message, badJsonTool.message, "a failing JSON transaction: the tool's message");
});

t.test('a missing table, a JSON transaction, listings equal to the tool', async (t) => {
  if (!libraryUsable(t)) return;
  const netns = nlNetns(t, 'api');
  if (!netns) return;
  const lib = createNft(netns, { backend: 'library' });
  const tool = createNft(netns, { backend: 'exec' });
  t.equal(await lib.listTable('inet', 'nl-x'), undefined, 'listTable of a missing table');
  t.equal(await lib.listTableText('inet', 'nl-x'), undefined, 'listTableText of a missing table');
  t.equal(await lib.deleteTable('inet', 'nl-x'), false, 'deleteTable of a missing table');
  await lib.apply({
    nftables: [
      { add: { table: { family: 'inet', name: 'nl-x' } } },
      { add: { chain: { family: 'inet', table: 'nl-x', name: 'in', type: 'filter', hook: 'input', prio: 0, policy: 'accept' } } },
      { add: { set: { family: 'inet', table: 'nl-x', name: 's', type: 'ipv4_addr' } } },
      { add: { element: { family: 'inet', table: 'nl-x', name: 's', elem: ['192.0.2.1', '192.0.2.2'] } } },
      {
        add: {
          rule: {
            family: 'inet',
            table: 'nl-x',
            chain: 'in',
            expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@s' } }, { accept: null }],
          },
        },
      },
    ],
  });
  const json = await lib.listTable('inet', 'nl-x');
  t.same(json, await tool.listTable('inet', 'nl-x'), 'the JSON listing is the tool’s');
  const set = json?.json.find((o) => 'set' in (o as object)) as { set: { elem: string[] } } | undefined;
  t.same(set?.set.elem, ['192.0.2.1', '192.0.2.2'], 'the JSON transaction applied');
  const text = await lib.listTableText('inet', 'nl-x');
  t.equal(text, await tool.listTableText('inet', 'nl-x'), 'the handle listing is the tool’s');
  t.match(text, /ip saddr @s accept # handle \d+/);
  t.same(await lib.listTables(), await tool.listTables());
  t.equal(await lib.deleteTable('inet', 'nl-x'), true);
  t.equal(await tool.listTable('inet', 'nl-x'), undefined, 'deleted');
});

t.test('a transaction lands in its namespace only, also with many calls at once', async (t) => {
  if (!libraryUsable(t)) return;
  const names: string[] = [];
  for (let i = 0; i < 6; i++) {
    const n = nlNetns(t, `c${i}`);
    if (!n) return;
    names.push(n);
  }
  const lib = names.map((n) => createNft(n, { backend: 'library' }));
  await lib[0]!.apply('add table ip nl-only');
  t.same(await createNft(names[1]!, { backend: 'exec' }).listTables(), [], 'the other namespace has no table');
  t.same(await createNft(names[0]!, { backend: 'exec' }).listTables(), [{ family: 'ip', name: 'nl-only' }]);
  await lib[0]!.deleteTable('ip', 'nl-only');

  // 6 namespaces x 20 calls, all issued before any finishes: each adds its own element.
  const calls: Array<Promise<void>> = [];
  for (let i = 0; i < names.length; i++) calls.push(lib[i]!.apply(`add table ip nl-c\nadd set ip nl-c s { type inet_service; }`));
  await Promise.all(calls);
  calls.length = 0;
  for (let k = 0; k < 20; k++)
    for (let i = 0; i < names.length; i++) calls.push(lib[i]!.apply(`add element ip nl-c s { ${1000 * (i + 1) + k} }`));
  const lists = names.map((_, i) => lib[i]!.listTables());
  await Promise.all([...calls, ...lists]);
  for (let i = 0; i < names.length; i++) {
    const dump = await createNft(names[i]!, { backend: 'exec' }).listTable('ip', 'nl-c');
    const set = dump?.json.find((o) => 'set' in (o as object)) as { set: { elem?: number[] } } | undefined;
    const want = Array.from({ length: 20 }, (_, k) => 1000 * (i + 1) + k);
    t.same(
      [...(set?.set.elem ?? [])].sort((a, b) => a - b),
      want,
      `namespace ${i} holds exactly its 20 elements`,
    );
  }
});

t.test('the pool threads come back: a call for "" sees the namespace this process runs in', async (t) => {
  if (!libraryUsable(t)) return;
  const netns = nlNetns(t, 'home');
  if (!netns) return;
  const inside = createNft(netns, { backend: 'library' });
  const home = createNft('', { backend: 'library' });
  await inside.apply('add table inet nl-inside');
  // Interleaved calls into the namespace and for '' (only read: never changed here).
  const homeTables: Array<Promise<Array<{ family: string; name: string }>>> = [];
  const work: Array<Promise<unknown>> = [];
  for (let i = 0; i < 12; i++) {
    work.push(inside.listTables(), inside.apply(`add chain inet nl-inside c${i}`));
    homeTables.push(home.listTables());
  }
  await Promise.all(work);
  const viaTool = JSON.parse(execFileSync('nft', ['-j', 'list', 'tables'], { encoding: 'utf8' })) as {
    nftables: Array<{ table?: { family: string; name: string } }>;
  };
  const want = viaTool.nftables.flatMap((o) => (o.table ? [{ family: o.table.family, name: o.table.name }] : []));
  for (const [i, tables] of (await Promise.all(homeTables)).entries()) {
    t.same(tables, want, `call ${i} for '' listed this process's namespace, as \`nft -j list tables\` does`);
  }
  t.notOk(
    want.some((x) => x.name === 'nl-inside'),
    "the namespace's table is not in this process's namespace",
  );
  // Every thread of this process is back in the process's namespace.
  const own = readlinkSync('/proc/self/ns/net');
  const threads = readdirSync('/proc/self/task').map((tid) => readlinkSync(`/proc/self/task/${tid}/ns/net`));
  t.same(
    threads.filter((ns) => ns !== own),
    [],
    `all ${threads.length} threads are in ${own}`,
  );
});

t.test('a timeout rejects the call; the queue waits for the thread that still runs it', async (t) => {
  if (!libraryUsable(t)) return;
  const netns = nlNetns(t, 'slow');
  if (!netns) return;
  const slow = createNft(netns, { backend: 'library', timeoutMs: 1 });
  const lib = createNft(netns, { backend: 'library' });
  const big = slow.apply(bigTable('nl-big', 60_000));
  const queued = slow.apply('add table ip nl-never');
  const after = lib.listTable('ip', 'nl-big');
  t.match(await failure(big), { code: 'SHOAL_ERR_TIMEOUT', message: /cannot be interrupted/ }, 'the running call is rejected');
  t.match(await failure(queued), { code: 'SHOAL_ERR_TIMEOUT', message: /did not start/ }, 'the call queued behind it is rejected');
  const dump = await after;
  const set = dump?.json.find((o) => 'set' in (o as object)) as { set: { elem?: unknown[] } } | undefined;
  t.equal(set?.set.elem?.length, 60_000, 'the call queued next ran after the timed-out one finished, which applied');
  t.equal(await lib.listTable('ip', 'nl-never'), undefined, 'the call that timed out in the queue never ran');
});
