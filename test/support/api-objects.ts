/**
 * API objects as the manager returns them, for the CLI's unit tests (formatting and
 * commands): complete values with fixed times and RFC 5737 addresses, changed per test
 * through `over`.
 */
import type { Node } from '../../src/api/api-types.ts';

/** A ready, active worker node named by its host name (no spec name). */
export function nodeObject(id: string, hostname: string, over: Partial<Node> = {}): Node {
  return {
    id,
    version: 3,
    createdAt: '2026-11-22T09:00:00Z',
    updatedAt: '2026-11-22T09:00:00Z',
    spec: { name: '', labels: {}, role: 'worker', availability: 'active' },
    description: { hostname, platformOs: 'linux', platformArch: 'x86_64', version: '0.1.0' },
    status: { state: 'ready', message: '', addr: '192.0.2.12', gossipPort: 7946 },
    certFingerprint: 'ab12',
    ...over,
  };
}
