#!/usr/bin/env node
// Runs the compiled test suite (dist/test/*.test.js) with node's test runner and prints a closing
// line "N passed, N failed, N skipped". Arguments filter test files by substring, e.g.
//   node scripts/run-tests.mjs engine-      (only the kernel tests)
import { spawnSync } from 'node:child_process';
import { readdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dir = path.join(root, 'dist', 'test');
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => !filters.length || filters.some((s) => f.includes(s)))
  .sort()
  .map((f) => path.join(dir, f));
if (!files.length) {
  console.error('no test files matched');
  process.exit(1);
}
const tap = path.join(mkdtempSync(path.join(tmpdir(), 'medshield-tests-')), 'results.tap');
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-timeout=1200000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: 'inherit', cwd: root, env: { ...process.env, MEDSHIELD_OFFLINE: '1', MEDSHIELD_QUIET: '1' } },
);
let text = '';
try {
  text = readFileSync(tap, 'utf8');
} catch {
  /* runner died */
}
const count = (k) => Number((new RegExp(`^# ${k} (\\d+)`, 'm').exec(text) ?? [])[1] ?? 0);
const failed = count('fail') + count('cancelled');
console.log(`${count('pass')} passed, ${failed} failed, ${count('skipped')} skipped`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
