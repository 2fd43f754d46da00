import t from 'tap';
import { commandLine, execInNetns } from '../../../src/kernel/exec.ts';

t.test('runs a command with stdin and captures its output', async (t) => {
  const r = await execInNetns('', 'cat', [], { input: 'hello\n' });
  t.same(r, { code: 0, stdout: 'hello\n', stderr: '' });
});

t.test('a non-zero exit is SHOAL_ERR_COMMAND_FAILED with code and stderr', async (t) => {
  await t.rejects(execInNetns('', 'sh', ['-c', 'echo oops >&2; exit 3']), {
    code: 'SHOAL_ERR_COMMAND_FAILED',
    message: /exited with code 3: oops/,
    details: { exitCode: 3, stderr: 'oops\n' },
  });
  const ok = await execInNetns('', 'sh', ['-c', 'echo partial; exit 1'], { okExitCodes: [1] });
  t.same(ok, { code: 1, stdout: 'partial\n', stderr: '' }, 'a listed exit code is a result');
});

t.test('a missing command and a timeout', async (t) => {
  await t.rejects(execInNetns('', 'shoal-no-such-command', []), { code: 'SHOAL_ERR_COMMAND_FAILED', errno: 'ENOENT' });
  await t.rejects(execInNetns('', 'sleep', ['5'], { timeoutMs: 100 }), { code: 'SHOAL_ERR_TIMEOUT' });
  await t.rejects(execInNetns('', 'true', [], { timeoutMs: 0 }), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
});

t.test('a namespace that does not exist', async (t) => {
  await t.rejects(execInNetns('shoal-no-such-netns-x', 'true', []), { code: 'SHOAL_ERR_NETNS_NOT_FOUND', errno: 'ENOENT' });
  await t.rejects(
    execInNetns('shoal-no-such-netns-x', 'conntrack', ['-L'], { okExitCodes: [1] }),
    { code: 'SHOAL_ERR_NETNS_NOT_FOUND' },
    'even where exit 1 is a result',
  );
  t.throws(() => commandLine('../x', 'true', []), { code: 'SHOAL_ERR_INVALID_ARGUMENT' });
});

t.test('command line text', async (t) => {
  t.equal(commandLine('', 'nft', ['-f', '-']), 'nft -f -');
  t.equal(commandLine('sb-1', 'sh', ['-c', "echo 'x'"]), `nsenter --net=/run/netns/sb-1 -- sh -c 'echo '\\''x'\\'''`);
});
