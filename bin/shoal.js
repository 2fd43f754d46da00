#!/usr/bin/env node
// Entry point of the `shoal` command: runs the compiled JavaScript in dist/ (built by
// `npm run build`, which `npm ci` and the repository's scripts run).
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('Error: shoal is not built: run `npm run build` in its directory\n');
    process.exit(1);
  }
  throw err;
}
process.exitCode = await main(process.argv.slice(2));
