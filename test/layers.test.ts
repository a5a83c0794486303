/**
 * The layering rule of ARCHITECTURE.md: engine → data, models → attacks, defences, detectors → eval →
 * report, provenance → api → shells (cli, gateway, dashboard, worker). A module never imports from a higher layer; this
 * reads every relative import under src/ and names any that goes upwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/version.js';

const LEVEL: Record<string, number> = {
  engine: 0,
  data: 1,
  models: 1,
  attacks: 2,
  defences: 2,
  detectors: 2,
  eval: 3,
  studies: 3,
  report: 4,
  provenance: 4,
  api: 5,
  cli: 6,
  gateway: 6,
  dashboard: 6,
  worker: 6,
  web: 6,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

test('no module imports from a higher layer', () => {
  const src = path.join(PACKAGE_ROOT, 'src');
  const upward: string[] = [];
  const files = sources(src);
  for (const f of files) {
    const from = path.relative(src, f).split(path.sep)[0];
    if (!(from in LEVEL)) continue;
    for (const m of readFileSync(f, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const to = path.relative(src, path.resolve(path.dirname(f), m[1])).split(path.sep)[0];
      if (to in LEVEL && LEVEL[to] > LEVEL[from]) upward.push(`${path.relative(src, f)} → ${m[1]}`);
    }
  }
  assert.ok(files.length > 100, `read ${files.length} files`);
  assert.deepEqual(upward, [], `upward imports:\n${upward.join('\n')}`);
});

test('the shells (CLI, dashboard, worker) import only the API, their own folder, top-level files and a sibling shell index', () => {
  const src = path.join(PACKAGE_ROOT, 'src');
  const bad: string[] = [];
  for (const shell of ['cli', 'dashboard', 'worker']) {
    for (const f of sources(path.join(src, shell))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const rel = path.relative(src, path.resolve(path.dirname(f), m[1]));
        const parts = rel.split(path.sep);
        const top = parts.length === 1;
        const ok =
          top ||
          parts[0] === shell ||
          parts[0] === 'api' ||
          (['gateway', 'dashboard', 'worker', 'cli'].includes(parts[0]) &&
            parts.length === 2 &&
            parts[1] === 'index.js');
        if (!ok) bad.push(`${path.relative(src, f)} → ${m[1]}`);
      }
    }
  }
  assert.deepEqual(bad, [], `shell imports below src/api:\n${bad.join('\n')}`);
});

test('a CLI command file only parses, calls one verb and prints: at most 80 lines each', () => {
  const dir = path.join(PACKAGE_ROOT, 'src', 'cli', 'commands');
  const long = readdirSync(dir)
    .filter((n) => n.endsWith('.ts'))
    .map((n) => [n, readFileSync(path.join(dir, n), 'utf8').split('\n').length - 1] as const)
    .filter(([, lines]) => lines > 80)
    .map(([n, lines]) => `${n}: ${lines} lines`);
  assert.deepEqual(
    long,
    [],
    `command files over 80 lines (move flag groups, helpers or printers out):\n${long.join('\n')}`,
  );
});
