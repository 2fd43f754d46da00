/**
 * Models for the load balancer's unit tests. Addresses: VIPs from 10.0.0.0/16, backends
 * from 10.1.0.0/16 (documented private blocks of the overlay tests' kind; nothing is sent).
 */
import type { Rng } from '../../../src/common/rng.ts';
import type { VipBackend, VipModel, VipPort, VipService } from '../../../src/vip/model.ts';

export const TABLE = 'shoal-t-lb';

export function tcp(port: number, targetPort = port): VipPort {
  return { protocol: 'tcp', port, targetPort };
}

export function udp(port: number, targetPort = port): VipPort {
  return { protocol: 'udp', port, targetPort };
}

/** An every-port entry: VIP:any-port -> backend:same-port. */
export function every(protocol: 'tcp' | 'udp'): VipPort {
  return { protocol, port: 0, targetPort: 0 };
}

export function up(ip: string): VipBackend {
  return { ip, healthy: true };
}

export function down(ip: string): VipBackend {
  return { ip, healthy: false };
}

export function draining(ip: string): VipBackend {
  return { ip, healthy: true, draining: true };
}

export function service(id: string, vip: string, ports: VipPort[], backends: VipBackend[]): VipService {
  return { id, vip, ports, backends };
}

export function model(...services: VipService[]): VipModel {
  return { tableName: TABLE, services };
}

/** Service i of a large model: VIP 10.100.x.y, backends 10.(1+...).x.y (up to 250,000). */
export function numbered(i: number, backends: number, ports: VipPort[] = [tcp(80, 8080)]): VipService {
  const list: VipBackend[] = [];
  for (let j = 0; j < backends; j++) {
    const n = i * backends + j;
    list.push(up(`10.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`));
  }
  return service(`svc-${String(i).padStart(6, '0')}`, `10.100.${i >> 8}.${i & 255}`, ports, list);
}

/** A copy of a service with its lists in another order (the plan must not change). */
export function shuffled(rng: Rng, svc: VipService): VipService {
  return { ...svc, ports: rng.shuffle([...svc.ports]), backends: rng.shuffle([...svc.backends]) };
}

/** One random change to a model (a new object for every service it touches). */
export function randomChange(rng: Rng, services: VipService[], next: { id: number }): { services: VipService[]; what: string } {
  const out = [...services];
  const pick = (): number => rng.int(out.length);
  // Adds twice as likely as removals: the model grows to a few dozen services, VIPs shared among them.
  const r = rng.int(out.length === 0 ? 1 : 11);
  const ip = (): string => `10.1.${rng.int(4)}.${1 + rng.int(12)}`;
  if (r === 0 || r === 10 || out.length === 0) {
    const id = next.id++;
    const shape = rng.int(6);
    const ports =
      shape === 0
        ? [tcp(80, 8080), udp(53, 5353)]
        : shape === 1
          ? [every('tcp'), ...(rng.int(2) === 0 ? [every('udp')] : []), ...(rng.int(2) === 0 ? [tcp(80, 8080)] : [])]
          : shape === 2
            ? // The routing mesh's kind: published ports from a small range, often disjoint from another's.
              [tcp(8080 + rng.int(4), 80), ...(rng.int(2) === 0 ? [udp(5353 + rng.int(2), 53)] : [])]
            : [rng.int(2) === 0 ? tcp(80 + rng.int(3), 8080) : udp(53)];
    const backends = Array.from({ length: rng.int(5) }, () => (rng.int(4) === 0 ? down(ip()) : up(ip())));
    // Often a VIP some other service has: shared on disjoint ports, or a port the planner settles.
    const vip = rng.int(2) === 0 && out.length > 0 ? out[pick()]!.vip : `10.0.${rng.int(3)}.${1 + rng.int(200)}`;
    out.push(service(`s${String(id).padStart(3, '0')}`, vip, ports, backends));
    return { services: out, what: `add s${id}` };
  }
  const i = pick();
  const s = out[i]!;
  switch (r) {
    case 1:
      out.splice(i, 1);
      return { services: out, what: `remove ${s.id}` };
    case 2:
    case 3:
      out[i] = { ...s, backends: [...s.backends, rng.int(3) === 0 ? draining(ip()) : up(ip())] };
      return { services: out, what: `${s.id} +backend` };
    case 4:
      out[i] = { ...s, backends: s.backends.filter((_, k) => k !== rng.int(Math.max(1, s.backends.length))) };
      return { services: out, what: `${s.id} -backend` };
    case 5:
      out[i] = { ...s, backends: s.backends.map((b) => (rng.int(2) === 0 ? { ...b, healthy: !b.healthy } : b)) };
      return { services: out, what: `${s.id} health` };
    case 6:
      out[i] = { ...s, backends: s.backends.map((b) => (rng.int(2) === 0 ? { ...b, draining: !b.draining } : b)) };
      return { services: out, what: `${s.id} drain` };
    case 7:
      // Another explicit port, an every-port entry (now and then one the service has: a conflict), or one port less.
      out[i] = {
        ...s,
        ports: [
          () => [...s.ports, udp(5000 + rng.int(3))],
          () => [...s.ports, tcp(8080 + rng.int(4), 80)],
          () => [...s.ports, every(rng.int(2) === 0 ? 'tcp' : 'udp')],
          () => s.ports.slice(1),
        ][rng.int(4)]!(),
      };
      return { services: out, what: `${s.id} ports` };
    case 8:
      // A VIP of its own, or another service's.
      out[i] = { ...s, vip: rng.int(2) === 0 ? out[pick()]!.vip : `10.0.${rng.int(3)}.${1 + rng.int(200)}` };
      return { services: out, what: `${s.id} vip` };
    default:
      out[i] = { ...s, backends: [] };
      return { services: out, what: `${s.id} no backends` };
  }
}
