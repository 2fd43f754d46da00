/**
 * Listening readiness: a task whose service publishes TCP ports joins the load balancers
 * only once its process listens on every published target port, not the moment it
 * starts (Docker sends connections to a container that has not bound its port yet, which
 * its clients see as refused connections during every scale-up and rolling update).
 *
 * Read over sock_diag in the task's sandbox (listening sockets only), polled every POLL_MS while some
 * task waits; a task that has not listened after GIVE_UP_MS joins anyway (its port may be
 * meant for something else; a health check is the way to say more). Tasks adopted from an
 * earlier agent are ready at once: they were serving.
 */
import { readFile } from 'node:fs/promises';
import type { Clock, Timer } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { ShoalError } from '../common/errors.ts';
import { listeningTcpPorts } from '../kernel/sock-diag.ts';
import { parseProcNetTcp } from './connections.ts';

export const POLL_MS = 25;
export const GIVE_UP_MS = 60_000;

/**
 * The TCP ports the sandbox of process `pid` listens on: sock_diag in its namespace (see
 * src/kernel/sock-diag.ts for why), or /proc/PID/net/tcp{,6} when sock_diag cannot be used
 * (no native addon). Empty when the process is gone; never rejects.
 */
export async function listeningPorts(pid: number): Promise<Set<number>> {
  try {
    return await listeningTcpPorts(`/proc/${pid}/ns/net`);
  } catch (err) {
    if (err instanceof ShoalError && err.code === 'SHOAL_ERR_NETNS_NOT_FOUND') return new Set();
  }
  const out = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    try {
      for (const p of parseProcNetTcp(await readFile(`/proc/${pid}/net/${file}`, 'utf8')).listening) out.add(p);
    } catch {
      // gone, or no IPv6
    }
  }
  return out;
}

interface Waiting {
  pid: number;
  ports: number[];
  since: number;
}

export class ListenReadiness {
  private readonly ready = new Set<string>();
  private readonly waiting = new Map<string, Waiting>();
  private timer: Timer | undefined;
  private polling = false;
  private closed = false;

  constructor(
    private readonly o: {
      clock: Clock;
      logger: Logger;
      onReady: () => void;
      /** For tests: what a process listens on. */
      listening?: (pid: number) => Promise<Set<number>>;
    },
  ) {}

  /** A task that was serving before this agent started. */
  markReady(id: string): void {
    this.ready.add(id);
    this.waiting.delete(id);
  }

  /** Whether the task listens on every port it must (it waits for them otherwise, from now). */
  isReady(id: string, pid: number, ports: readonly number[]): boolean {
    if (this.ready.has(id)) return true;
    if (ports.length === 0 || pid <= 0) {
      if (pid > 0) this.ready.add(id);
      return pid > 0;
    }
    const w = this.waiting.get(id);
    if (!w || w.pid !== pid || w.ports.join(',') !== ports.join(',')) {
      this.waiting.set(id, { pid, ports: [...ports], since: this.o.clock.now() });
      this.schedule();
    }
    return false;
  }

  /** Forgets every task not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const id of [...this.ready]) if (!keep.has(id)) this.ready.delete(id);
    for (const id of [...this.waiting.keys()]) if (!keep.has(id)) this.waiting.delete(id);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
  }

  private schedule(): void {
    if (this.timer || this.polling || this.closed || this.waiting.size === 0) return;
    this.timer = this.o.clock.setTimer(POLL_MS, () => {
      this.timer = undefined;
      void this.poll();
    });
  }

  private async poll(): Promise<void> {
    this.polling = true;
    let changed = false;
    try {
      const listening = this.o.listening ?? listeningPorts;
      for (const [id, w] of [...this.waiting]) {
        const ports = await listening(w.pid);
        const missing = w.ports.filter((p) => !ports.has(p));
        if (missing.length === 0 || this.o.clock.now() - w.since >= GIVE_UP_MS) {
          if (missing.length > 0)
            this.o.logger.warn(
              { id, missing },
              'the task does not listen on its published target port(s); it joins the load balancers anyway',
            );
          if (this.waiting.get(id) === w) {
            if (missing.length === 0)
              this.o.logger.debug({ id, ports: w.ports, waitedMs: this.o.clock.now() - w.since }, 'the task listens');
            this.waiting.delete(id);
            this.ready.add(id);
            changed = true;
          }
        }
      }
    } finally {
      this.polling = false;
    }
    if (changed) this.o.onReady();
    this.schedule();
  }
}
