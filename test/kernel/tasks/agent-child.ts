/**
 * A stand-in agent for test/kernel/tasks/runtime.test.ts: a process of its own that runs a
 * TaskRuntime on DIR, starts the specs given as JSON, prints `[{id, pid}, ...]` on one line
 * and then idles until the test kills it with SIGKILL (an agent crash).
 *
 *   node --import tsx test/kernel/tasks/agent-child.ts DIR SPECS_JSON
 */
import { TaskRuntime } from '../../../src/agent/tasks/runtime.ts';

const [dir, specs] = process.argv.slice(2);
if (!dir || !specs) {
  process.stderr.write('usage: agent-child.ts DIR SPECS_JSON\n');
  process.exit(2);
}
const runtime = new TaskRuntime({ dir, onEvent: () => {} });
await runtime.adopt();
const started: Array<{ id: string; pid: number }> = [];
for (const spec of JSON.parse(specs)) started.push({ id: spec.id, ...(await runtime.start(spec)) });
process.stdout.write(`${JSON.stringify(started)}\n`);
// Idle until killed: the timer keeps the process alive.
setInterval(() => {}, 1 << 30);
