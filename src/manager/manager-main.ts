/**
 * The `shoal manager` process: starts the manager, says where it listens, and runs until
 * SIGTERM or SIGINT, then shuts down gracefully (in-flight calls finish, the store is
 * checkpointed). Also the store dump used by tests and operators.
 */
import { existsSync } from 'node:fs';
import { dataDirPaths } from '../api/data-dir.ts';
import { apiError } from '../api/errors.ts';
import { createLogger } from '../common/logger.ts';
import type { ManagerConfigInput } from './config.ts';
import { redactSecrets } from './control/swarm.ts';
import { startManager } from './manager.ts';
import { MANAGER_SCHEMA } from './objects.ts';
import type { Kinds } from './objects.ts';
import { SqliteStore } from './sqlite-store.ts';

export interface ManagerProcessOptions extends ManagerConfigInput {
  storeSync?: 'normal' | 'full';
  logLevel?: string;
}

export interface ProcessIo {
  out(text: string): void;
  err(text: string): void;
}

/** Runs the manager until a termination signal; resolves with the exit status. */
export async function runManagerProcess(options: ManagerProcessOptions, io: ProcessIo): Promise<number> {
  const { storeSync, logLevel, ...config } = options;
  const logger = createLogger({ name: 'shoal-manager', ...(logLevel ? { level: logLevel } : {}) });
  const startAt = performance.now();
  const manager = await startManager(config, { logger, ...(storeSync ? { storeSync } : {}) });
  const startMs = Math.round(performance.now() - startAt);
  const swarm = await manager.control.inspectSwarm();
  const self = await manager.control.inspectNode('self');
  io.out(
    `${manager.created ? 'Swarm initialized' : 'Swarm resumed'}: current node (${self.id}) is now a manager.\n` +
      `API: unix://${manager.paths.socket} and tcp://${manager.managerAddr} (mTLS)\n` +
      `To add a worker to this swarm, run:\n\n    shoal agent --join-token ${swarm.joinTokens.worker} --manager ${manager.managerAddr} --advertise-addr IP --data-dir DIR\n\n`,
  );
  // uptimeMs - startMs is the cost of loading the program before the manager could start
  logger.info(
    {
      clusterId: manager.clusterId,
      managerAddr: manager.managerAddr,
      socket: manager.paths.socket,
      pid: process.pid,
      startMs,
      uptimeMs: Math.round(process.uptime() * 1000),
    },
    'manager ready',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      manager
        .close()
        .catch((err: unknown) => logger.error({ err }, 'shutdown failed'))
        .finally(resolve);
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  return 0;
}

/**
 * The deterministic dump of a data directory's store, read straight from the SQLite file
 * (works whether the manager runs or not; a read transaction gives a consistent snapshot).
 * Secrets appear as their SHA-256. Same text as the API's SwarmControl/Dump.
 */
export function dumpStoreFile(dataDir: string): string {
  const paths = dataDirPaths(dataDir);
  if (!existsSync(paths.db)) throw apiError('SHOAL_ERR_STORE', `no manager store in ${dataDir} (expected ${paths.db})`, { dataDir });
  const store = new SqliteStore<Kinds>(paths.db, MANAGER_SCHEMA, { readonly: true });
  try {
    return store.dump(redactSecrets);
  } finally {
    store.close();
  }
}
