#!/usr/bin/env node
// Build: compile TypeScript with tsc, then copy the Node-RED editor assets
// (.html, locales/, icons/) next to the compiled .js, where Node-RED looks for them.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, statSync, mkdirSync, chmodSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outArgIndex = process.argv.indexOf('--out');
const outDir = outArgIndex > 0 ? process.argv[outArgIndex + 1] : join(root, 'dist');
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');

try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', outDir], { stdio: 'inherit' });
} catch {
  console.error('build: TypeScript reported errors (see above)');
  process.exit(1);
}

/** Copy every non-TypeScript asset under nodes/ into the output tree. */
function copyAssets(srcDir, destDir) {
  for (const name of readdirSync(srcDir)) {
    const from = join(srcDir, name);
    const to = join(destDir, name);
    if (statSync(from).isDirectory()) {
      copyAssets(from, to);
    } else if (!name.endsWith('.ts')) {
      mkdirSync(destDir, { recursive: true });
      cpSync(from, to);
    }
  }
}
if (existsSync(join(root, 'nodes'))) copyAssets(join(root, 'nodes'), join(outDir, 'nodes'));
for (const bin of ['scripts/sim.js', 'scripts/start.js']) {
  const p = join(outDir, bin);
  if (existsSync(p)) chmodSync(p, 0o755);
}
