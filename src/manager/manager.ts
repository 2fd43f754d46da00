/**
 * The manager's composition root: opens the store, initialises or resumes the cluster,
 * and starts the dispatcher, the API servers and the periodic work (gossip key rotation,
 * the post-restart sweep). `startManager` returns once the API answers; `close` is
 * graceful (servers drain, store checkpointed), `destroy` immediate.
 *
 * Start-up does no work proportional to the store's size: the allocator's indexes are
 * built on the first allocation, the scheduler's sweep of every service runs in the
 * background after the nodes' reconnection grace period.
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dataDirPaths } from '../api/data-dir.ts';
import type { DataDirPaths } from '../api/data-dir.ts';
import { apiError } from '../api/errors.ts';
import { joinHostPort, splitHostPort } from '../api/host-port.ts';
import type { Clock, Timer } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import { processAlive } from '../common/process-alive.ts';
import { ApiServer } from './api-server.ts';
import { ensureManagerCertificates, initCluster, updateManagerAddr } from './cluster.ts';
import type { ManagerConfig, ManagerConfigInput } from './config.ts';
import { resolveManagerConfig } from './config.ts';
import { ManagerControl } from './control.ts';
import { ManagerCertificates } from './manager-certificates.ts';
import { CLUSTER_KEY, MANAGER_SCHEMA } from './objects.ts';
import type { Kinds } from './objects.ts';
import { Dispatcher } from './session.ts';
import { SqliteStore } from './sqlite-store.ts';

export interface StartOptions {
  clock?: Clock;
  logger?: Logger;
  /** 'normal' (default) or 'full': see sqlite-store.ts. */
  storeSync?: 'normal' | 'full';
  /** Skip the background sweep (tests that drive reconciles themselves). */
  noSweep?: boolean;
}

export interface RunningManager {
  readonly config: ManagerConfig;
  readonly paths: DataDirPaths;
  readonly control: ManagerControl;
  readonly dispatcher: Dispatcher;
  readonly store: SqliteStore<Kinds>;
  readonly clusterId: string;
  /** True when this start created the cluster. */
  readonly created: boolean;
  /** host:port agents dial. */
  readonly managerAddr: string;
  /** The bound TCP port. */
  readonly port: number;
  close(): Promise<void>;
  destroy(): void;
}

/** Claims the data directory for this process (refuses one another live manager holds). */
function lockDataDir(paths: DataDirPaths): void {
  try {
    const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw apiError('SHOAL_ERR_DATA_DIR_LOCKED', `data directory ${paths.root} is in use by another manager (pid ${pid})`, {
        pid,
        dataDir: paths.root,
      });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  writeFileSync(paths.pidFile, `${process.pid}\n`);
}

export async function startManager(input: ManagerConfigInput, options: StartOptions = {}): Promise<RunningManager> {
  const config = resolveManagerConfig(input);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const paths = dataDirPaths(config.dataDir);
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  lockDataDir(paths);

  const store = new SqliteStore<Kinds>(paths.db, MANAGER_SCHEMA, {
    synchronous: options.storeSync ?? 'normal',
    onListenerError: (err) => logger.warn({ err }, 'store watcher failed'),
  });
  const timers: Timer[] = [];
  let control: ManagerControl | undefined;
  let dispatcher: Dispatcher | undefined;
  let server: ApiServer | undefined;
  let certificates: ManagerCertificates | undefined;
  try {
    const existing = store.view((tx) => tx.get('cluster', CLUSTER_KEY));
    control = new ManagerControl(
      { store, clock, config, logger },
      existing
        ? existing
        : {
            defaultAddrPools: config.defaultAddrPools,
            defaultAddrPoolMaskLength: config.defaultAddrPoolMaskLength,
            portRangeStart: config.portRangeStart,
            portRangeEnd: config.portRangeEnd,
          },
    );
    const listen = splitHostPort(config.listenAddr)!;
    const wantedAddr = (port: number): string => joinHostPort(config.advertiseAddr, port);
    let fresh: { nodeKeyPem: string; nodeCertPem: string } | undefined;
    let created = false;
    if (!existing) {
      const init = await initCluster(control, config, wantedAddr(listen.port));
      fresh = { nodeKeyPem: init.nodeKeyPem, nodeCertPem: init.nodeCertPem };
      created = true;
      logger.info({ clusterId: init.cluster.clusterId }, 'initialised a new cluster');
    }
    const tls = await ensureManagerCertificates(control, config, paths, fresh);

    dispatcher = new Dispatcher({ control, config, clock, logger });
    dispatcher.start();
    // drains under way when the previous process stopped wait afresh (their acknowledgements were in memory)
    const resumed = await control.resumeDrains();
    if (resumed > 0) logger.info({ tasks: resumed }, 'resumed the drains of tasks shutting down');
    server = new ApiServer({
      control,
      dispatcher,
      logger,
      socketPath: paths.socket,
      listenAddr: config.listenAddr,
      tls: { caPem: tls.caPem, certPem: tls.certPem, keyPem: tls.keyPem },
      clusterId: tls.cluster.clusterId,
    });
    await server.start();
    const managerAddr = wantedAddr(server.port);
    await updateManagerAddr(control, managerAddr);
    await ensureManagerCertificates(control, config, paths, { nodeKeyPem: tls.keyPem, nodeCertPem: tls.certPem });
    // renewals of the server's certificate, and the roots of a rotation (manager-certificates.ts)
    const srv = server;
    certificates = new ManagerCertificates({
      control,
      clock,
      logger,
      initial: { certPem: tls.certPem, keyPem: tls.keyPem },
      onUpdate: (t) => srv.updateTls(t),
    });
    server.updateTls(certificates.tls());
    certificates.start();
    const certs = certificates;

    const c = control;
    if (config.gossipKeyRotationMs > 0) {
      const every = Math.min(config.gossipKeyRotationMs, 3600_000);
      const tick = (): void => {
        c.rotateGossipKeyIfDue()
          .catch((err: unknown) => logger.warn({ err }, 'gossip key rotation failed'))
          .finally(() => {
            timers.push(clock.setTimer(every, tick));
          });
      };
      timers.push(clock.setTimer(every, tick));
    }
    if (!options.noSweep && !created) {
      timers.push(
        clock.setTimer(config.nodeDownAfterMs + config.heartbeatPeriodMs, () => {
          c.sweep().catch((err: unknown) => logger.warn({ err }, 'post-restart sweep failed'));
        }),
      );
    }

    let closed = false;
    const d = dispatcher;
    const s = server;
    const stopTimers = (): void => {
      for (const t of timers) t.cancel();
    };
    const releaseLock = (): void => {
      try {
        if (readFileSync(paths.pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(paths.pidFile);
      } catch {
        // already gone
      }
    };
    return {
      config,
      paths,
      control,
      dispatcher,
      store,
      clusterId: tls.cluster.clusterId,
      created,
      managerAddr,
      port: server.port,
      async close() {
        if (closed) return;
        closed = true;
        stopTimers();
        certs.close();
        d.close();
        await s.close();
        c.close();
        store.close();
        releaseLock();
      },
      destroy() {
        if (closed) return;
        closed = true;
        stopTimers();
        certs.close();
        d.close();
        s.destroy();
        c.close();
        store.close();
        releaseLock();
      },
    };
  } catch (err) {
    for (const t of timers) t.cancel();
    certificates?.close();
    dispatcher?.close();
    server?.destroy();
    control?.close();
    store.close();
    try {
      unlinkSync(paths.pidFile);
    } catch {
      // nothing to release
    }
    throw err;
  }
}
