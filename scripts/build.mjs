#!/usr/bin/env node
/**
 * Compiles src/ to dist/ (tsconfig.build.json; incremental, so a build with nothing changed
 * costs a second), then removes every file in dist/ whose source is gone, so that a module
 * moved or deleted in src/ cannot linger in dist/ and be loaded by a stale import, and
 * writes dist/api/api.proto.json, the pre-parsed descriptor of proto/api.proto that the
 * compiled src/api/proto.ts reads instead of parsing the .proto (scripts/api-descriptor.mjs).
 * Exit status: tsc's, or 1 when the descriptor cannot be written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeApiDescriptor } from './api-descriptor.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

function prune(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    // x.js and x.d.ts from src/x.ts; source maps are not built; the descriptor and tsbuildinfo stay
    const rel = relative(join(root, 'dist'), path);
    const m = /^(.*)\.(js|d\.ts)$/.exec(rel);
    if (rel.endsWith('.map') || (m && !existsSync(join(root, 'src', `${m[1]}.ts`)))) rmSync(path);
  }
}
if (existsSync(join(root, 'dist'))) prune(join(root, 'dist'));
process.exitCode = r.status ?? 1;
if (r.status === 0) {
  try {
    writeApiDescriptor(join(root, 'proto', 'api.proto'), join(root, 'dist', 'api', 'api.proto.json'));
    // the build is current from now on (scripts/ensure-deps compares its inputs with this file)
    const now = new Date();
    utimesSync(join(root, 'dist', '.tsbuildinfo'), now, now);
  } catch (err) {
    process.stderr.write(`build: cannot write dist/api/api.proto.json: ${err.message}\n`);
    process.exitCode = 1;
  }
}
