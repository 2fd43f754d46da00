/** Every fuzz target, in the order `npm run fuzz` runs them. */
import type { FuzzTarget } from './harness.ts';
import { gossipDatagram } from './targets/gossip-datagram.ts';
import { gossipStream } from './targets/gossip-stream.ts';
import { dns } from './targets/dns.ts';
import { api } from './targets/api.ts';
import { cli } from './targets/cli.ts';

export const TARGETS: readonly FuzzTarget[] = [gossipDatagram, gossipStream, dns, api, cli];

export function targetNamed(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}
