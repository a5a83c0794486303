#!/usr/bin/env node
// Builds the optional oneDNN addon (build/Release/medshield_native.node) with node-gyp.
// Run by `npm install` (package.json "install"). It NEVER fails the install: on any problem it
// prints one line and exits 0, and medshield then runs on its portable backend.
// MEDSHIELD_NO_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (msg) => console.log(`medshield: native addon ${msg}`);

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath)
    candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    const npmBin = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
    if (npmBin)
      candidates.push(join(dirname(realpathSync(npmBin)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    /* no npm on PATH */
  }
  return candidates.find((c) => existsSync(c));
}

function main() {
  if (process.env.MEDSHIELD_NO_NATIVE === '1') {
    say('skipped (MEDSHIELD_NO_NATIVE=1); using the portable backend');
    return;
  }
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    say(`not built: unsupported platform ${process.platform}; using the portable backend`);
    return;
  }
  const headers = ['/usr/include/dnnl.hpp', '/usr/local/include/dnnl.hpp', '/usr/include/oneapi/dnnl/dnnl.hpp'];
  if (!headers.some((h) => existsSync(h))) {
    say('not built: oneDNN headers not found (install libdnnl-dev); using the portable backend');
    return;
  }
  const gyp = findNodeGyp();
  if (!gyp) {
    say('not built: node-gyp not found; using the portable backend');
    return;
  }
  const args = [gyp, 'rebuild', '--silent'];
  // Prefer the running Node's own headers (no download) when they are installed next to it.
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    const err =
      `${r.stderr ?? ''}\n${r.stdout ?? ''}`.split('\n').find((l) => /error/i.test(l)) ?? `exit code ${r.status}`;
    say(`not built (${err.trim().slice(0, 160)}); using the portable backend`);
    return;
  }
  say('built: build/Release/medshield_native.node');
}

try {
  main();
} catch (e) {
  say(`not built (${e instanceof Error ? e.message : String(e)}); using the portable backend`);
}
process.exit(0);
