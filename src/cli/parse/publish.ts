/**
 * --publish / -p values, in Docker's two forms:
 *
 *   short  `[PUBLISHED:]TARGET[/PROTOCOL]`, either side may be a range (`8080-8081:80-81`),
 *          which expands to one port per pair; a bare TARGET (or `:TARGET`) publishes on a
 *          port the manager picks from 30000-32767.
 *   long   `published=8080,target=80,protocol=udp,mode=host` (target is mandatory).
 *
 * Published port 0 means "pick one". Docker's swarm ignores a host IP in the short form
 * with a warning; shoal refuses it, because the routing mesh always listens on every
 * address and a silently dropped address is a surprise.
 *
 * --publish-rm takes the same forms, and matches the service's ports by target port and
 * protocol, plus the published port when one is given.
 */
import { UsageError } from './usage-error.ts';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';
export type PublishMode = 'ingress' | 'host';

export interface PortSpec {
  readonly protocol: PortProtocol;
  readonly targetPort: number;
  /** 0: the manager chooses one. */
  readonly publishedPort: number;
  readonly publishMode: PublishMode;
}

const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'sctp'];
const MODES: readonly string[] = ['ingress', 'host'];
const LONG_KEYS: readonly string[] = ['published', 'target', 'protocol', 'mode'];

function bad(spec: string, flag: string, reason: string): UsageError {
  return new UsageError(`invalid ${flag} ${JSON.stringify(spec)}: ${reason}`, { value: spec, flag });
}

function port(text: string, what: string, spec: string, flag: string, allowZero: boolean): number {
  if (!/^\d+$/.test(text)) throw bad(spec, flag, `${what} port ${JSON.stringify(text)} is not a number`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) throw bad(spec, flag, `${what} port ${text} is out of range ${allowZero ? 0 : 1}-65535`);
  return n;
}

function range(text: string, what: string, spec: string, flag: string, allowZero: boolean): [number, number] {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const p = port(text, what, spec, flag, allowZero);
    return [p, p];
  }
  const lo = port(text.slice(0, dash), what, spec, flag, allowZero);
  const hi = port(text.slice(dash + 1), what, spec, flag, allowZero);
  if (hi < lo) throw bad(spec, flag, `${what} port range ${text} ends before it starts`);
  return [lo, hi];
}

function protocolOf(text: string, spec: string, flag: string): PortProtocol {
  const p = text.toLowerCase();
  if (!PROTOCOLS.includes(p)) throw bad(spec, flag, `protocol ${JSON.stringify(text)} is not one of tcp, udp, sctp`);
  return p as PortProtocol;
}

function parseShort(spec: string, flag: string): PortSpec[] {
  const slash = spec.indexOf('/');
  const ports = slash < 0 ? spec : spec.slice(0, slash);
  const protocol = slash < 0 ? 'tcp' : protocolOf(spec.slice(slash + 1), spec, flag);
  const parts = ports.split(':');
  if (parts.length > 2) throw bad(spec, flag, 'a host IP is not supported: published ports listen on every address of every node');
  const targetText = parts.length === 2 ? (parts[1] ?? '') : (parts[0] ?? '');
  const publishedText = parts.length === 2 ? (parts[0] ?? '') : '';
  if (targetText === '') throw bad(spec, flag, 'the target port is missing');
  const [tLo, tHi] = range(targetText, 'target', spec, flag, false);
  const [pLo, pHi] = publishedText === '' ? [0, 0] : range(publishedText, 'published', spec, flag, true);
  const count = tHi - tLo + 1;
  if (pLo !== 0 || pHi !== 0) {
    if (pHi - pLo + 1 !== count) throw bad(spec, flag, 'the published and target port ranges differ in length');
  }
  const out: PortSpec[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ protocol, targetPort: tLo + i, publishedPort: pLo === 0 ? 0 : pLo + i, publishMode: 'ingress' });
  }
  return out;
}

function parseLong(spec: string, flag: string): PortSpec {
  const fields = new Map<string, string>();
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    if (eq < 0) throw bad(spec, flag, `field ${JSON.stringify(field)} is not key=value`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1).trim();
    if (!LONG_KEYS.includes(key)) throw bad(spec, flag, `unknown field ${JSON.stringify(key)} (want published, target, protocol, mode)`);
    if (fields.has(key)) throw bad(spec, flag, `field ${JSON.stringify(key)} given twice`);
    fields.set(key, value);
  }
  const target = fields.get('target');
  if (target === undefined) throw bad(spec, flag, 'missing mandatory field "target"');
  const mode = fields.get('mode') ?? 'ingress';
  if (!MODES.includes(mode)) throw bad(spec, flag, `publish mode ${JSON.stringify(mode)} is not one of ingress, host`);
  const published = fields.get('published');
  return {
    protocol: protocolOf(fields.get('protocol') ?? 'tcp', spec, flag),
    targetPort: port(target, 'target', spec, flag, false),
    publishedPort: published === undefined || published === '' ? 0 : port(published, 'published', spec, flag, true),
    publishMode: mode as PublishMode,
  };
}

/** Parses one --publish value into one or more ports (a range gives several). */
export function parsePublish(spec: string, flag = '--publish'): PortSpec[] {
  if (spec.trim() === '') throw bad(spec, flag, 'empty value');
  return spec.includes('=') ? [parseLong(spec, flag)] : parseShort(spec, flag);
}

/**
 * Parses every --publish value and refuses two entries that would claim the same published
 * port and protocol (the manager would refuse them too, but the CLI can name the flag).
 */
export function parsePublishList(specs: readonly string[], flag = '--publish'): PortSpec[] {
  const out: PortSpec[] = [];
  const seen = new Map<string, string>();
  for (const s of specs) {
    for (const p of parsePublish(s, flag)) {
      if (p.publishedPort !== 0) {
        const key = `${p.publishedPort}/${p.protocol}`;
        const prev = seen.get(key);
        if (prev !== undefined) throw bad(s, flag, `published port ${key} is also given by ${JSON.stringify(prev)}`);
        seen.set(key, s);
      }
      out.push(p);
    }
  }
  return out;
}

/** A --publish-rm selector: a port matches when target and protocol agree (and published, when given). */
export function publishRemoveMatches(selector: PortSpec, port: Pick<PortSpec, 'protocol' | 'targetPort' | 'publishedPort'>): boolean {
  return (
    selector.protocol === port.protocol &&
    selector.targetPort === port.targetPort &&
    (selector.publishedPort === 0 || selector.publishedPort === port.publishedPort)
  );
}

/** Docker's short text of a port: `8080:80/tcp`, or `80/tcp` when the published port is not chosen yet. */
export function portSpecText(p: Pick<PortSpec, 'protocol' | 'targetPort' | 'publishedPort'>): string {
  return p.publishedPort === 0 ? `${p.targetPort}/${p.protocol}` : `${p.publishedPort}:${p.targetPort}/${p.protocol}`;
}
