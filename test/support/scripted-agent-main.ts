/**
 * The scripted agent (scripted-agent.ts) as a process, for end-to-end tests that stop,
 * freeze or kill an agent: `node --import tsx test/support/scripted-agent-main.ts FLAGS`.
 *
 * Flags as `shoal agent` takes them: --join-token T --manager IP:PORT (first start),
 * --advertise-addr IP, --data-dir DIR, --hostname NAME, --gossip-port N. Joins (or resumes
 * the identity in DIR), prints one line saying which, and keeps the session until SIGTERM
 * or SIGINT (exit 0). A join the manager refuses, or a manager that no longer knows the
 * node, prints one `Error: MESSAGE (CODE)` line and exits 1.
 */
import { parseArgs } from 'node:util';
import { joinCluster, loadIdentity } from '../../src/agent/join.ts';
import { isShoalError } from '../../src/common/errors.ts';
import { ScriptedAgent } from './scripted-agent.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'join-token': { type: 'string' },
      manager: { type: 'string' },
      'advertise-addr': { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string' },
      hostname: { type: 'string' },
      'gossip-port': { type: 'string' },
    },
  });
  const dataDir = values['data-dir'];
  if (!dataDir) throw new Error('--data-dir is required');
  const advertiseAddr = values['advertise-addr'] ?? '127.0.0.1';
  let identity = loadIdentity(dataDir);
  if (!identity) {
    if (!values['join-token'] || !values.manager) throw new Error(`${dataDir} holds no identity: give --join-token and --manager`);
    identity = await joinCluster({
      token: values['join-token'],
      managerAddr: values.manager,
      advertiseAddr,
      dataDir,
      ...(values.hostname ? { hostname: values.hostname } : {}),
    });
    process.stdout.write(`scripted agent joined as a ${identity.role} (node ${identity.nodeId})\n`);
  } else {
    process.stdout.write(`scripted agent resumes as ${identity.role} ${identity.nodeId}\n`);
  }
  let fatal: Error | undefined;
  await new Promise<void>((resolve) => {
    const agent = new ScriptedAgent({
      identity: identity!,
      ...(values.manager ? { managerAddr: values.manager } : {}),
      advertiseAddr,
      dataDir,
      ...(values.hostname ? { hostname: values.hostname } : {}),
      ...(values['gossip-port'] ? { gossipPort: Number(values['gossip-port']) } : {}),
      reconnectMaxMs: 1000,
      onFatal: (err) => {
        fatal = err;
        stop();
      },
    });
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      agent.close();
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    agent.start();
  });
  if (fatal) throw fatal;
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}${isShoalError(err) ? ` (${err.code})` : ''}\n`);
    process.exitCode = 1;
  },
);
