/**
 * How soon a new task's name resolves on another host, in a 2-host testbed (bench/dns.ts
 * calls taskResolvable; `_` keeps scripts/bench from running this file).
 *
 * An overlay `front`, a global service `client` (one sandbox per host, the observers) and a
 * service `web`. ROUNDS times, `shoal service scale web=N+1`;
 * for the new task, the observer on the other host asks its resolver for `tasks.web`
 * every POLL_MS (a UDP socket opened in the observer's sandbox namespace, so the query goes
 * through the sandbox's 127.0.0.11 redirect as a task's would) until the answer holds the
 * task's address. The figure per round: from the task's start to the first answer that
 * holds it (gossip to the other host, its agent's view, the index rebuild). The task's
 * start is its running status's time: when its agent saw the process run (from then on
 * the agent publishes it), on the same machine's clock as the observer's. The query
 * loop starts as soon as the manager lists the task's address, before the task starts.
 *
 *   SHOAL_BENCH_DNS_ROUNDS (20)
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connectManager, type ManagerClient } from '../src/api/client.ts';
import { RR_TYPE } from '../src/dns/message.ts';
import { decodeResponse, encodeQuery } from '../src/dns/wire.ts';
import { native } from '../src/kernel/native.ts';
import { testbedPaths } from '../src/testbed/state.ts';
import { agentPrefix } from '../src/testbed/testbed.ts';
import { percentile, round1 } from './_stats.ts';
import { run, SHOAL, spawnSyncDown, until } from './_testbed.ts';

const ROUNDS = Number(process.env['SHOAL_BENCH_DNS_ROUNDS'] ?? 20);
const POLL_MS = 5;
const RESOLVE_TIMEOUT_MS = 30_000;

export interface ResolvableFigures {
  task_resolvable_p50_ms: number;
  task_resolvable_p99_ms: number;
  task_resolvable_max_ms: number;
  task_resolvable_rounds: number;
}

/** A resolver client inside a namespace: asks 127.0.0.11:53 for tasks.web. */
class Observer {
  private readonly socket: dgram.Socket;
  private id = 1;
  private waiting: ((addrs: string[]) => void) | undefined;

  private constructor(socket: dgram.Socket) {
    this.socket = socket;
    socket.on('message', (msg) => {
      try {
        const r = decodeResponse(msg);
        if (r.id !== this.id) return;
        const addrs = r.answers.flatMap((a) => (a.data.kind === 'a' ? [a.data.address] : []));
        this.waiting?.(addrs);
      } catch {
        // not an answer to us
      }
    });
  }

  static async open(netns: string): Promise<Observer> {
    const n = native();
    const fd = n.openSocket(`/run/netns/${netns}`, n.constants.AF_INET, n.constants.SOCK_DGRAM, 0, '127.0.0.1', 0);
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind({ fd }, resolve));
    return new Observer(socket);
  }

  /** tasks.web's addresses, or undefined when no answer came within `ms`. */
  ask(name: string, ms: number): Promise<string[] | undefined> {
    this.id = (this.id + 1) & 0xffff;
    const q = encodeQuery({ id: this.id, opcode: 0, rd: true, cd: false, question: { name, type: RR_TYPE.A, class: 1 } });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve(undefined);
      }, ms);
      this.waiting = (addrs) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(addrs);
      };
      this.socket.send(q, 53, '127.0.0.11');
    });
  }

  close(): void {
    this.socket.close();
  }
}

export async function taskResolvable(log: (m: string) => void): Promise<ResolvableFigures> {
  const prefix = `bd${randomBytes(2).toString('hex').slice(0, 3)}-`;
  const env: NodeJS.ProcessEnv = { ...process.env, SHOAL_CONTEXT: prefix };
  delete env['SHOAL_HOST'];
  delete env['SHOAL_DATA_DIR'];
  const shoal = (args: string[]): Promise<string> => run(process.execPath, [SHOAL, ...args], { env, timeoutMs: 180_000 });
  let started = false;
  let client: ManagerClient | undefined;
  const observers = new Map<number, Observer>();
  const onSignal = (): void => {
    if (started) spawnSyncDown(prefix, env);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`resolvable: testbed ${prefix}, 2 hosts`);
    started = true;
    await shoal(['testbed', 'up', '--hosts', '2', '--prefix', prefix]);
    const mc = connectManager({ host: `unix://${join(testbedPaths(prefix).dataDir(1), 'manager.sock')}` });
    client = mc;
    await shoal(['network', 'create', '-d', 'overlay', 'front']);
    await shoal(['service', 'create', '--name', 'client', '--mode', 'global', '--network', 'front', '--', 'sleep', 'infinity']);
    await shoal(['service', 'create', '--name', 'web', '--replicas', '0', '--network', 'front', '--', 'sleep', 'infinity']);
    const nodes = await mc.listNodes();
    const hostOf = (nodeId: string): number => Number((nodes.find((n) => n.id === nodeId)?.description.hostname ?? 'h0').slice(1));
    const clients = await until(
      async () => {
        const list = (await mc.listTasks({ services: ['client'] })).filter((t) => t.status.state === 'running');
        return list.length === 2 ? list : undefined;
      },
      60_000,
      'a client on each host',
    );
    for (const c of clients) {
      const h = hostOf(c.nodeId);
      observers.set(h, await Observer.open(`${agentPrefix(prefix, h)}sb-${c.id.slice(0, 12)}`));
    }
    // the observers' resolvers answer (the redirect and sockets are in place)
    for (const [h, o] of observers) await until(async () => o.ask('tasks.client', 500), 30_000, `the resolver on h${h}`);

    const samples: number[] = [];
    const seen = new Set<string>();
    for (let i = 1; i <= ROUNDS; i++) {
      await shoal(['service', 'scale', `web=${i}`]);
      const task = await until(
        async () => {
          const t = (await mc.listTasks({ services: ['web'] })).find((x) => !seen.has(x.id) && x.desiredState === 'running');
          return t && t.nodeId !== '' && t.networks[0]?.addresses[0] ? t : undefined;
        },
        60_000,
        `web's task ${i}`,
        10,
      );
      seen.add(task.id);
      const ip = task.networks[0]!.addresses[0]!.split('/')[0]!;
      const host = hostOf(task.nodeId);
      const other = host === 1 ? 2 : 1;
      const o = observers.get(other)!;
      const deadline = Date.now() + RESOLVE_TIMEOUT_MS;
      let resolvedAt = 0;
      while (Date.now() < deadline) {
        const addrs = await o.ask('tasks.web', 1000);
        if (addrs?.includes(ip)) {
          resolvedAt = Date.now();
          break;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      if (resolvedAt === 0) throw new Error(`task ${task.id} (${ip}) never resolved on h${other}`);
      // the start: when the task's agent saw its process run (the running status's time,
      // the same machine's clock); a task is published into gossip from then on
      const startedAt = await until(
        async () => {
          const t = (await mc.listTasks({ services: ['web'] })).find((x) => x.id === task.id);
          return t?.status.state === 'running' ? Date.parse(t.status.timestamp) : undefined;
        },
        10_000,
        `task ${task.id} running`,
        10,
      );
      const ms = resolvedAt - startedAt;
      samples.push(ms);
      log(`resolvable: round ${i}: task on h${host} resolved on h${other} ${ms} ms after it started`);
    }
    return {
      task_resolvable_p50_ms: round1(percentile(samples, 50)),
      task_resolvable_p99_ms: round1(percentile(samples, 99)),
      task_resolvable_max_ms: round1(Math.max(...samples)),
      task_resolvable_rounds: samples.length,
    };
  } finally {
    for (const o of observers.values()) o.close();
    client?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (started) await shoal(['testbed', 'down', '--prefix', prefix]).catch((err: unknown) => log(`testbed down: ${String(err)}`));
  }
}
