/**
 * Endpoint records as the manager streams them, for the agent's unit tests: a task's
 * endpoint on network n1 with what a test does not set filled in.
 */
import type { Endpoint } from '../../src/api/api-types.ts';

/** Task `task-ID`'s endpoint ID on node `node` at `ip`/24 (service `serviceId`, default s1). */
export function taskEndpoint(id: string, node: string, ip: string, extra: Partial<Endpoint> = {}): Endpoint {
  return {
    id,
    networkId: 'n1',
    kind: 'task',
    ownerId: `task-${id}`,
    serviceId: 's1',
    serviceName: 'web',
    nodeId: node,
    name: `web.${id}`,
    aliases: [],
    addr: `${ip}/24`,
    mac: '02:42:0a:00:00:09',
    addrV6: '',
    version: 1,
    state: 'active',
    hostname: '',
    ...extra,
  };
}
