// The HTTP server of the routing-mesh benchmark (bench/_mesh.ts): answers every request
// with 200 and this machine's host name. `node _mesh-server.mjs PORT` (default 80). The
// tasks of the benchmark's service run it, and so does the direct reference in a host.
// Once it listens it prints `listening <epoch ms>`: the moment it could first serve, which
// the convergence figure starts from.
import { createServer } from 'node:http';
import { hostname } from 'node:os';

const port = Number(process.argv[2] ?? 80);
const body = `${hostname()}\n`;
const headers = { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) };

createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
}).listen(port, () => {
  process.stdout.write(`listening ${Date.now()}\n`);
});
