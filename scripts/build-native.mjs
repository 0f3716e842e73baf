#!/usr/bin/env node
// Build the optional native addons (today: the pocketsphinx decoder in native/pocketsphinx) with
// node-gyp. This script NEVER fails the overall build: when the C library, its headers or a
// compiler is missing it prints a warning and exits 0, and the provider reports itself unavailable
// at run time. Pass --strict to exit 1 on failure instead (CI jobs that must have the decoder).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const addonDir = join(root, 'native', 'pocketsphinx');
const addonFile = join(addonDir, 'build', 'Release', 'pocketsphinx_binding.node');
const installHint =
  'install the Debian packages libpocketsphinx-dev libsphinxbase-dev pkg-config (and pocketsphinx-en-us for the model), then run npm run build:native';

function warn(reason) {
  console.warn(`build-native: WARNING: pocketsphinx decoder not built: ${reason}`);
  console.warn(`build-native: ${installHint}`);
  process.exit(strict ? 1 : 0);
}

/** node-gyp ships inside npm; prefer the one npm hands us, then npm's own copy, then PATH. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const candidate of candidates) {
    if (candidate && existsSync(candidate)) return [process.execPath, candidate];
  }
  const which = spawnSync('sh', ['-c', 'command -v node-gyp'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return [which.stdout.trim()];
  return null;
}

const pkgConfig = spawnSync('pkg-config', ['--exists', 'pocketsphinx', 'sphinxbase']);
if (pkgConfig.error) warn('pkg-config is not installed');
if (pkgConfig.status !== 0) warn('pkg-config cannot find pocketsphinx/sphinxbase (headers missing)');

const nodeGyp = findNodeGyp();
if (!nodeGyp) warn('node-gyp was not found (it ships with npm)');

// Use the headers of the running Node when the distribution installed them (Debian's nodejs does,
// under /usr/include/node), so no header download is needed offline.
const nodeRoot = join(dirname(process.execPath), '..');
const args = ['rebuild', '--directory', addonDir];
if (existsSync(join(nodeRoot, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodeRoot}`);

try {
  const [command, ...prefix] = nodeGyp;
  execFileSync(command, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: addonDir });
} catch (err) {
  const output = `${err.stdout ?? ''}${err.stderr ?? ''}`.split('\n').filter((l) => /error|Error/.test(l));
  warn(`node-gyp failed${output.length ? `:\n  ${output.slice(0, 8).join('\n  ')}` : ''}`);
}
if (!existsSync(addonFile)) warn(`node-gyp ran but ${addonFile} is missing`);
console.log(`build-native: built ${addonFile}`);
