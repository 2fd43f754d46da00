/**
 * The embedded resolver on its own, for bench/dns.ts: `node --import tsx bench/_dns-server.ts
 * NETNS RECORDS.json`, running the compiled dist/ modules as the agent does. Builds the record index from the RecordInput in the file, opens one
 * sandbox's sockets on 127.0.0.11 inside the namespace NETNS (the chain the agent runs: query
 * check, then the records; no forwarder) and prints one JSON line `{"udpPort":..,"tcpPort":..}`
 * to stdout. Runs until SIGTERM or SIGINT, or until its stdin closes (the bench is gone).
 *
 * A process of its own so that the load a client puts on the resolver does not share an
 * event loop with the bench's bookkeeping, as in the agent, where the resolver shares one
 * only with the agent. (Not a benchmark: `_` keeps scripts/bench from running it.)
 */
import { readFileSync } from 'node:fs';
import type { RecordInput } from '../src/dns/records.ts';

// The compiled modules the agent runs (dist/, `npm run build`), not the sources through
// tsx, whose transform adds work per closure made per query.
const dist = new URL('../dist/', import.meta.url);
const load = <T>(path: string): Promise<T> => import(new URL(path, dist).href) as Promise<T>;
const { silentLogger } = await load<typeof import('../src/common/logger.ts')>('common/logger.js');
const { createRng } = await load<typeof import('../src/common/rng.ts')>('common/rng.js');
const { createChain } = await load<typeof import('../src/dns/handler.ts')>('dns/handler.js');
const { checkQuery } = await load<typeof import('../src/dns/handlers/query-check.ts')>('dns/handlers/query-check.js');
const { recordsHandler } = await load<typeof import('../src/dns/handlers/records.ts')>('dns/handlers/records.js');
const { buildRecordIndex } = await load<typeof import('../src/dns/records.ts')>('dns/records.js');
const { DnsServer } = await load<typeof import('../src/dns/server.ts')>('dns/server.js');
const { netnsPath } = await load<typeof import('../src/kernel/netns.ts')>('kernel/netns.js');

const [ns, recordsFile] = process.argv.slice(2);
if (!ns || !recordsFile) {
  process.stderr.write('usage: _dns-server.ts NETNS RECORDS.json\n');
  process.exit(2);
}
const input = JSON.parse(readFileSync(recordsFile, 'utf8')) as RecordInput;
const index = buildRecordIndex(input);
if (index.problems.length > 0) {
  process.stderr.write(`_dns-server: records left out: ${JSON.stringify(index.problems)}\n`);
  process.exit(1);
}
const resolver = createChain([checkQuery, recordsHandler({ index: () => index, rng: createRng(1) })]);
const server = new DnsServer({ resolver, logger: silentLogger, generation: () => index });
const ports = await server.serve({ id: 'bench', nsPath: netnsPath(ns), networkIds: input.networks.map((n) => n.id) });

function stop(): void {
  server.close();
  process.stderr.write(`_dns-server: ${JSON.stringify(server.stats)}\n`);
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
process.stdout.write(`${JSON.stringify(ports)}\n`);
