/**
 * `shoal manager`: runs the manager process (cluster init on first start, resume later),
 * and `shoal manager dump`: prints the deterministic dump of a manager's store.
 *
 * The manager's modules are imported when the command runs, not when the program is
 * built, so that other commands do not pay for loading them.
 */
import type { Command } from 'commander';
import { resolveDataDir } from '../api/data-dir.ts';
import { parseDurationMs } from './parse/duration.ts';
import { parseUint } from './parse/numbers.ts';
import { badFlagValue } from './parse/usage-error.ts';

interface ManagerFlags {
  dataDir?: string;
  listenAddr?: string;
  advertiseAddr?: string;
  defaultAddrPool?: string[];
  defaultAddrPoolMaskLength?: string;
  dispatcherHeartbeat?: string;
  nodeDownAfter?: string;
  storeSync?: string;
  logLevel?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerManagerCommands(program: Command): void {
  const manager = program
    .command('manager')
    .description('Run the shoal manager: cluster store, allocator, scheduler and API')
    .option('--data-dir <dir>', 'directory of the store, socket and certificates (default $SHOAL_DATA_DIR or /var/lib/shoal)')
    .option('--listen-addr <ip:port>', 'address of the mTLS API for agents and remote CLIs', '0.0.0.0:2377')
    .option('--advertise-addr <ip>', 'address other nodes reach this manager at')
    .option('--default-addr-pool <cidr>', 'default address pool for network subnets (repeatable; at cluster init)', collect)
    .option('--default-addr-pool-mask-length <n>', 'prefix length of subnets carved from the pools (at cluster init)')
    .option('--dispatcher-heartbeat <duration>', 'agent heartbeat period (default 5s)')
    .option('--node-down-after <duration>', 'silence after which a node is marked down (default 15s)')
    .option('--store-sync <mode>', 'normal (crash-safe) or full (fsync every commit)', 'normal')
    .option('--log-level <level>', 'trace, debug, info, warn, error')
    .action(async (flags: ManagerFlags) => {
      if (flags.storeSync !== 'normal' && flags.storeSync !== 'full') {
        throw badFlagValue('--store-sync', String(flags.storeSync), 'must be normal or full');
      }
      const { runManagerProcess } = await import('../manager/manager-main.ts');
      process.exitCode = await runManagerProcess(
        {
          dataDir: resolveDataDir(flags.dataDir),
          ...(flags.listenAddr ? { listenAddr: flags.listenAddr } : {}),
          ...(flags.advertiseAddr ? { advertiseAddr: flags.advertiseAddr } : {}),
          ...(flags.defaultAddrPool ? { defaultAddrPools: flags.defaultAddrPool } : {}),
          ...(flags.defaultAddrPoolMaskLength
            ? { defaultAddrPoolMaskLength: parseUint(flags.defaultAddrPoolMaskLength, '--default-addr-pool-mask-length', 32) }
            : {}),
          ...(flags.dispatcherHeartbeat
            ? { heartbeatPeriodMs: Math.round(parseDurationMs(flags.dispatcherHeartbeat, '--dispatcher-heartbeat')) }
            : {}),
          ...(flags.nodeDownAfter ? { nodeDownAfterMs: Math.round(parseDurationMs(flags.nodeDownAfter, '--node-down-after')) } : {}),
          storeSync: flags.storeSync,
          ...(flags.logLevel ? { logLevel: flags.logLevel } : {}),
        },
        { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
      );
    });
  manager
    .command('dump')
    .description("Print a deterministic dump of a manager's store (secrets as SHA-256)")
    .option('--data-dir <dir>', 'read the store file of this data directory')
    .option('-H, --host <host>', 'ask a running manager instead (unix:///path or tcp://IP:PORT)')
    .action(async (flags: { dataDir?: string; host?: string }, cmd: Command) => {
      const parent = cmd.parent?.opts<{ dataDir?: string }>() ?? {};
      const dataDir = flags.dataDir ?? parent.dataDir;
      if (flags.host) {
        const { connectManager } = await import('../api/client.ts');
        const client = connectManager({ host: flags.host, ...(dataDir ? { dataDir } : {}) });
        try {
          process.stdout.write(await client.dump());
        } finally {
          client.close();
        }
        return;
      }
      const { dumpStoreFile } = await import('../manager/manager-main.ts');
      process.stdout.write(dumpStoreFile(resolveDataDir(dataDir)));
    });
}
