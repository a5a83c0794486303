/**
 * Progress when stderr is not a terminal (a log file, CI, a pipe): plain lines — one when a stage
 * starts and ends, and `done/total, elapsed, ETA` lines from a heartbeat that prints even while the
 * main thread is blocked in one long step. MEDSHIELD_PROGRESS=off|plain|bar forces a mode;
 * MEDSHIELD_QUIET=1 silences. The interval is shortened with MEDSHIELD_PROGRESS_INTERVAL_MS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './helpers.js';
import { statusLine, clock } from '../src/cli/progress.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'ms-progress-'));

/** Run the CLI with stderr going to a file (not a terminal); return the file's text. */
function runToFile(args: string[], env: Record<string, string>): { code: number; stdout: string; log: string } {
  const file = path.join(tmp, `stderr-${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(file, 'w');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'medshield.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', fd],
    env: { ...process.env, MEDSHIELD_OFFLINE: '1', MEDSHIELD_QUIET: '0', MEDSHIELD_PROGRESS: '', CI: '', ...env },
  });
  closeSync(fd);
  return { code: r.status ?? -1, stdout: r.stdout, log: readFileSync(file, 'utf8') };
}

const ATTACK = [
  'attack',
  '--model',
  'models/resnet18-w32',
  '--dataset',
  'pneumoniamnist',
  '--limit',
  '32',
  '--attack',
  'pgd',
  '--eps',
  '8/255',
  '--steps',
  '10',
  '--batch-size',
  '8',
  '--json',
];

test('attack with stderr to a file: a start line, done/total–elapsed–ETA lines, a done line; stdout stays JSON', () => {
  const r = runToFile(ATTACK, { MEDSHIELD_PROGRESS_INTERVAL_MS: '50' });
  assert.equal(r.code, 0, r.log);
  assert.equal(JSON.parse(r.stdout).n, 32);
  const lines = r.log.trim().split('\n');
  assert.ok(lines.includes('medshield: pgd: started (32 to do)'), r.log);
  const status = lines.filter((l) =>
    /^medshield: pgd: \d+\/32 \(\d+%\), elapsed \d+:\d\d, ETA (\d+:\d\d|\?)( \| eps 8\/255)?$/.test(l),
  );
  assert.ok(status.length >= 1, r.log);
  assert.match(
    lines.filter((l) => l.startsWith('medshield: pgd: done'))[0] ?? '',
    /^medshield: pgd: done 32\/32 in \d+:\d\d$/,
  );
  assert.ok(!r.log.includes('\r') && !r.log.includes('\u001b['), 'no bar redraws or escape codes in a log');
});

test('the heartbeat prints while the main thread is blocked in one long step', () => {
  const script = `
    process.env.MEDSHIELD_PROGRESS_INTERVAL_MS = '40';
    const { progress, heartbeatOnline } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'cli', 'progress.js'))});
    const keep = setInterval(() => {}, 1000); // the heartbeat thread is unref'd: keep this process up while it starts
    const bar = progress('step', 10);
    if (!(await heartbeatOnline())) throw new Error('no heartbeat thread');
    bar.update(3, { at: 'one long step' });
    const end = Date.now() + 600; while (Date.now() < end) { /* blocked: no timers run on this thread */ }
    bar.update(10);
    bar.stop();
    clearInterval(keep);`;
  const file = path.join(tmp, 'blocked.log');
  const fd = openSync(file, 'w');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'ignore', fd],
    env: { ...process.env, MEDSHIELD_QUIET: '0', MEDSHIELD_PROGRESS: 'plain' },
  });
  closeSync(fd);
  assert.equal(r.status, 0);
  const log = readFileSync(file, 'utf8');
  const during = log
    .split('\n')
    .filter((l) => l.startsWith('medshield: step: 3/10 (30%)') && l.endsWith('| at one long step'));
  assert.ok(during.length >= 2, log);
  assert.match(log, /medshield: step: done 10\/10 in 0:0\d/);
});

test('MEDSHIELD_PROGRESS=off and MEDSHIELD_QUIET=1 silence progress; the status line format', () => {
  for (const env of [
    { MEDSHIELD_PROGRESS: 'off', MEDSHIELD_PROGRESS_INTERVAL_MS: '50' },
    { MEDSHIELD_QUIET: '1', MEDSHIELD_PROGRESS: 'plain', MEDSHIELD_PROGRESS_INTERVAL_MS: '50' },
  ] as Array<Record<string, string>>) {
    const r = runToFile(ATTACK, env);
    assert.equal(r.code, 0, r.log);
    assert.ok(!/medshield: pgd:/.test(r.log), r.log);
  }
  assert.equal(clock(3725), '1:02:05');
  assert.equal(
    statusLine('train cnn', 30, 120, 60, 'epoch 1/4'),
    'medshield: train cnn: 30/120 (25%), elapsed 1:00, ETA 3:00 | epoch 1/4',
  );
  assert.equal(
    statusLine('replicate', 0, 0, 90, 'ma: pgd on resnet18'),
    'medshield: replicate: ma: pgd on resnet18, elapsed 1:30',
  );
});

test('detect with stderr to a file: one line per stage, and the heartbeat names the running stage', () => {
  const r = runToFile(
    [
      'detect',
      '--model',
      'models/resnet18-w32',
      '--detector',
      'kd_bu',
      '--test-attacks',
      'fgsm',
      '--eps',
      '8/255',
      '--fit-limit',
      '40',
      '--limit',
      '20',
      '--json',
    ],
    { MEDSHIELD_PROGRESS_INTERVAL_MS: '50' },
  );
  assert.equal(r.code, 0, r.log);
  const lines = r.log.trim().split('\n');
  for (const stage of ['pgd ε=8/255 on 40 train images', 'fgsm ε=8/255 on 20 test images', 'fit kd_bu at ε=8/255'])
    assert.ok(lines.includes(`medshield: detect: ${stage}`), r.log);
  assert.ok(
    lines.some((l) => /^medshield: detect: (pgd|fgsm|fit) .+, elapsed \d+:\d\d$/.test(l)),
    r.log,
  );
});
