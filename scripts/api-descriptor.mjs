/**
 * The pre-parsed descriptor of proto/api.proto that the compiled build ships beside
 * dist/api/proto.js (src/api/proto.ts reads it with protobufjs/light, so a cold `shoal`
 * command does not parse the .proto). Written by scripts/build.mjs; the unit test
 * test/unit/manager/proto-descriptor.test.ts writes one the same way and compares it with
 * the parsed .proto.
 *
 * Plain JavaScript, like build.mjs, so that it runs before anything is compiled.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** The descriptor of a .proto file as JSON text (protobufjs's `Root.toJSON()`). */
export function apiDescriptorJson(protoPath) {
  const protobuf = createRequire(import.meta.url)('protobufjs');
  const root = protobuf.loadSync(protoPath);
  root.resolveAll();
  return `${JSON.stringify(root.toJSON())}\n`;
}

/** Writes the descriptor of `protoPath` to `outPath` (creating its directory). */
export function writeApiDescriptor(protoPath, outPath) {
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, apiDescriptorJson(protoPath));
}
