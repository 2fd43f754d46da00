/**
 * Parsing what the runtime reads back: record.json, the supervisor's number files,
 * /proc/PID/stat; and the tail of a log read backwards in blocks.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTail, scanTail } from '../../../../src/agent/tasks/logs.ts';
import { parseMarker } from '../../../../src/agent/tasks/task-dir.ts';
import {
  exitMessage,
  isEnded,
  parseNumberFile,
  parseProcStat,
  parseRecord,
  serializeRecord,
  signalOfStatus,
  type TaskRecord,
} from '../../../../src/agent/tasks/record.ts';

const record: TaskRecord = {
  version: 1,
  spec: {
    id: 'abc',
    name: 'web.1.abc',
    netns: 'shoal-sb-abc',
    argv: ['sleep', '10'],
    env: ['A=1'],
    hostname: 'web',
    resolvConf: 'nameserver 127.0.0.11\n',
    hosts: '127.0.0.1 localhost\n',
    health: { cmd: ['CMD', 'true'], intervalMs: 1000, timeoutMs: 1000, retries: 3, startPeriodMs: 0 },
  },
  supervisor: { pid: 100, startTime: '12345' },
  main: { pid: 101, startTime: '12346' },
  startedAtMs: 1_700_000_000_000,
};

t.test('a record survives serialize -> parse', async (t) => {
  t.same(parseRecord(serializeRecord(record), 'r.json'), record);
  const { main: _main, ...noMain } = record;
  t.same(parseRecord(serializeRecord(noMain), 'r.json'), noMain, 'main is optional (before the pid is known)');
});

t.test('a bad record is SHOAL_ERR_TASK_RECORD naming the problem', async (t) => {
  const bad = (mutate: (r: any) => void, msg: RegExp): void => {
    const r = JSON.parse(JSON.stringify(record));
    mutate(r);
    t.throws(() => parseRecord(JSON.stringify(r), 'r.json'), { code: 'SHOAL_ERR_TASK_RECORD', message: msg });
  };
  t.throws(() => parseRecord('{"version":', 'r.json'), { code: 'SHOAL_ERR_TASK_RECORD', message: /not JSON/ });
  t.throws(() => parseRecord('[]', 'r.json'), { code: 'SHOAL_ERR_TASK_RECORD' });
  bad((r) => (r.version = 2), /version 2/);
  bad((r) => delete r.spec, /spec is missing/);
  bad((r) => (r.spec.argv = 'sleep'), /spec.argv/);
  bad((r) => (r.spec.env = [1]), /spec.env/);
  bad((r) => (r.spec.netns = null), /spec.netns/);
  bad((r) => (r.spec.health = { cmd: 'x' }), /spec.health/);
  bad((r) => (r.supervisor.pid = 0), /supervisor/);
  bad((r) => (r.supervisor.startTime = 123), /supervisor/);
  bad((r) => (r.main = { pid: 5 }), /main/);
  bad((r) => (r.startedAtMs = 'yesterday'), /startedAtMs/);
});

t.test('parseNumberFile: complete only with its newline', async (t) => {
  t.equal(parseNumberFile('137\n'), 137);
  t.equal(parseNumberFile('0\n'), 0);
  t.equal(parseNumberFile(''), undefined, 'opened, not yet written');
  t.equal(parseNumberFile('13'), undefined, 'no newline yet');
  t.equal(parseNumberFile('x\n'), undefined);
  t.equal(parseNumberFile('1\n2\n'), undefined);
});

t.test('parseProcStat: fields counted from the last parenthesis', async (t) => {
  const stat = (comm: string, state = 'S') =>
    `4242 (${comm}) ${state} 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
  t.same(parseProcStat(stat('sleep')), { state: 'S', pgrp: 4242, startTime: '987654' });
  t.same(parseProcStat(stat('a) b (c')), { state: 'S', pgrp: 4242, startTime: '987654' }, 'a command name with ) and spaces');
  t.equal(parseProcStat('garbage'), undefined);
  t.equal(parseProcStat('1 (x) S 1'), undefined, 'truncated');
  t.ok(isEnded(parseProcStat(stat('x', 'Z'))!), 'a zombie has ended');
  t.notOk(isEnded(parseProcStat(stat('x', 'D'))!));
});

t.test('exit statuses and messages', async (t) => {
  t.equal(signalOfStatus(143), 'SIGTERM');
  t.equal(signalOfStatus(137), 'SIGKILL');
  t.equal(signalOfStatus(7), undefined);
  t.equal(signalOfStatus(128), undefined);
  t.equal(exitMessage(7, undefined, false), 'exited with code 7');
  t.equal(exitMessage(137, 'SIGKILL', false), 'killed by SIGKILL (exit code 137)');
  t.match(exitMessage(255, undefined, true), /could not be recorded/);
});

t.test('scanTail counts lines from the end', async (t) => {
  const b = Buffer.from('a\nb\nc\n');
  t.same(scanTail(b, 1, true, 0), { offset: 4, seen: 1 }, 'the final newline ends the last line');
  t.same(scanTail(b, 2, true, 0), { offset: 2, seen: 2 });
  t.same(scanTail(b, 3, true, 0), { offset: -1, seen: 2 }, 'the first line starts before the block');
  t.same(scanTail(Buffer.from('a\nb'), 1, false, 0), { offset: 2, seen: 1 }, 'a last line without newline counts');
});

t.test('readTail: whole file, last N lines, across read blocks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-tail-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  t.same(await readTail(path, 5), Buffer.alloc(0), 'a missing log is empty');
  writeFileSync(path, 'one\ntwo\nthree\n');
  t.equal((await readTail(path)).toString(), 'one\ntwo\nthree\n');
  t.equal((await readTail(path, 2)).toString(), 'two\nthree\n');
  t.equal((await readTail(path, 0)).toString(), '');
  t.equal((await readTail(path, 10)).toString(), 'one\ntwo\nthree\n', 'more lines than the file has: all');
  writeFileSync(path, 'one\ntwo\npartial');
  t.equal((await readTail(path, 1)).toString(), 'partial');
  t.equal((await readTail(path, 2)).toString(), 'two\npartial');

  // 100,000 lines of 10 bytes: 1 MB, many 64 KiB blocks; a line straddles a block edge.
  const lines = Array.from({ length: 100_000 }, (_, i) => `line${String(i).padStart(5, '0')}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  t.equal((await readTail(path, 3)).toString(), `${lines.slice(-3).join('\n')}\n`);
  t.equal((await readTail(path, 7000)).toString(), `${lines.slice(-7000).join('\n')}\n`, 'a tail longer than one block');
  t.equal((await readTail(path, 100_000)).length, 1_000_000, 'exactly all lines');
  t.equal((await readTail(path, 99_999)).toString().split('\n')[0], 'line00001');
});

t.test('parseMarker: the task and kind of a marker file, nothing else', async (t) => {
  t.same(parseMarker('web1.exited'), { id: 'web1', kind: 'exited' });
  t.same(parseMarker('a.b.c.started'), { id: 'a.b.c', kind: 'started' }, 'ids may hold dots');
  t.equal(parseMarker('web1.exited.tmp-12'), undefined);
  t.equal(parseMarker('.exited'), undefined);
  t.equal(parseMarker('web1'), undefined);
});
