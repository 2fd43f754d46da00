/**
 * `shoal service scale web=5 api=2` arguments: SERVICE=REPLICAS pairs, in order, each name
 * at most once.
 */
import { UsageError } from './usage-error.ts';

export interface ScaleTarget {
  readonly service: string;
  readonly replicas: number;
}

export function parseScaleArg(text: string): ScaleTarget {
  const eq = text.indexOf('=');
  if (eq < 0) throw new UsageError(`invalid scale specifier ${JSON.stringify(text)}: want SERVICE=REPLICAS`, { value: text });
  const service = text.slice(0, eq);
  const count = text.slice(eq + 1);
  if (service === '') throw new UsageError(`invalid scale specifier ${JSON.stringify(text)}: the service name is empty`, { value: text });
  if (!/^\d+$/.test(count) || !Number.isSafeInteger(Number(count))) {
    throw new UsageError(`invalid replicas value ${JSON.stringify(count)} for service ${service}: want a non-negative integer`, {
      value: text,
    });
  }
  return { service, replicas: Number(count) };
}

export function parseScaleArgs(args: readonly string[]): ScaleTarget[] {
  if (args.length === 0) throw new UsageError('service scale needs at least one SERVICE=REPLICAS argument');
  const seen = new Set<string>();
  return args.map((a) => {
    const t = parseScaleArg(a);
    if (seen.has(t.service)) throw new UsageError(`service ${t.service} is named twice`, { service: t.service });
    seen.add(t.service);
    return t;
  });
}
