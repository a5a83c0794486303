#!/usr/bin/env node
// Runs the compiled test suite (dist/test/*.test.js) with node's test runner and prints a closing
// line "N passed, N failed, N skipped". Arguments filter test files by substring, e.g.
//   node scripts/run-tests.mjs engine-      (only the kernel tests)
//
// Files run in lanes (default 2 on a machine with 2 or more cores; MEDSHIELD_TEST_JOBS=1 runs them one at a
// time): each file is its own `node --test` process, the longest files start first (durations of the last run in
// dist/test/.durations.json, else the table below), and each file's report is printed whole when it ends. Many
// tests wait on child processes, servers, Chromium, dcmtk and fsync, so a second lane uses the idle core.
// Files that share one external resource never run at the same time (EXCLUSIVE below).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, mkdtempSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dir = path.join(root, 'dist', 'test');
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => !filters.length || filters.some((s) => f.includes(s)))
  .sort();
if (!files.length) {
  console.error('no test files matched');
  process.exit(1);
}

const envJobs = process.env.MEDSHIELD_TEST_JOBS;
const jobs = envJobs ? Number(envJobs) : Math.min(2, availableParallelism());
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`MEDSHIELD_TEST_JOBS must be a positive integer, got '${envJobs}'`);
  process.exit(2);
}

/**
 * Files that must not overlap, by the resource they share: the throw-away PostgreSQL server
 * (scripts/start-postgres.sh: initdb and pg_ctl start are not safe to race), the `medshield replicate`
 * model cache in the temp folder (trained once per key, replaced by a rename), memory (the full-width ResNet-18 on
 * the whole test split: `attack` over 624 films holds about 4 GB, and the demo more), and the dashboard bundles
 * (dashboard-demo and evidence rebuild dist/dashboard-ui when it is missing, and that build empties the folder
 * the other page tests serve).
 */
const uiBuilt =
  existsSync(path.join(root, 'dist', 'dashboard-ui', 'index.html')) &&
  existsSync(path.join(root, 'dist', 'dashboard-ui', 'assets', 'demo', 'demo.js'));
const EXCLUSIVE = {
  postgres: ['gateway-postgres.test.js', 'campaign-postgres.test.js', 'campaign-queue.test.js'],
  replicate: ['replicate-ma-detectors.test.js', 'scorecard-cli.test.js', 'attacks-replicate.test.js'],
  memory: ['attacks-default-model.test.js', 'cli-predict.test.js'],
  ui: uiBuilt ? [] : ['dashboard.test.js', 'dashboard-demo.test.js', 'dashboard-gateway.test.js', 'evidence.test.js'],
};
const groupsOf = (f) => Object.keys(EXCLUSIVE).filter((g) => EXCLUSIVE[g].includes(f));
/**
 * Files that run with no other file beside them: the HTTP fuzz of gateway-lifecycle holds 16 connections against
 * the gateway's 12-s request and 4-s header timeouts, so a starved gateway closes a legitimate request (seen at a
 * load of 20+ on 2 cores, with and without a second lane). It runs last, alone.
 */
const SOLO = ['gateway-lifecycle.test.js'];

/** Seconds per file on a quiet 2-core machine (session 11), used until a run has recorded its own. */
const KNOWN = {
  'cli-predict': 119,
  'engine-native': 53,
  'attacks-default-model': 50,
  dashboard: 46,
  'campaign-queue': 40,
  'attacks-adaptive': 40,
  'models-onnx-graph-cli': 38,
  'provenance-interop-matrix': 36,
  evidence: 32,
  'data-folder': 32,
  'scorecard-cli': 28,
  'attacks-blackbox-cli': 28,
  'attacks-suite': 26,
  'replicate-ma-detectors': 25,
  detectors: 24,
  'attacks-cli': 22,
  'gateway-lifecycle': 22,
  'dashboard-demo': 21,
  'cli-progress': 21,
  'campaign-run': 20,
  'api-attack': 20,
  cli: 20,
};
const durationsFile = path.join(dir, '.durations.json');
let recorded = {};
try {
  recorded = JSON.parse(readFileSync(durationsFile, 'utf8'));
} catch {
  /* first run */
}
const weight = (f) => recorded[f] ?? KNOWN[f.replace(/\.test\.js$/, '')] ?? 5;
const queue = [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));

const work = mkdtempSync(path.join(tmpdir(), 'medshield-tests-'));
const env = { ...process.env, MEDSHIELD_OFFLINE: '1', MEDSHIELD_QUIET: '1' };
if (process.stdout.isTTY && env.FORCE_COLOR === undefined) env.FORCE_COLOR = '1';
// One engine thread per lane: two lanes of two OpenMP threads on two cores make each static-scheduled kernel wait for
// a thread the other lane has descheduled. The threaded kernels keep their own test (engine-native registers the
// native backend with 2 threads whatever this says); MEDSHIELD_THREADS set by the caller wins.
if (jobs > 1 && !env.MEDSHIELD_THREADS) env.MEDSHIELD_THREADS = '1';
/**
 * CPU seconds (user + system) of this process's reaped children so far, from /proc/self/stat (Linux; 100 ticks/s):
 * read when each file's process ends, the difference is that file's CPU time, Chromium and child CLIs included
 * (not servers that daemonise, like PostgreSQL and Redis). Wall time under load says little; CPU time compares.
 */
function childCpu() {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8');
    const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(v[13]) + Number(v[14])) / 100;
  } catch {
    return Number.NaN;
  }
}
let cpuSeen = childCpu();
const busy = new Set();
const running = new Set();
const results = [];
const t0 = Date.now();

/** Run one test file in its own `node --test`; resolves with its TAP counts and duration. */
function runFile(f) {
  const tap = path.join(work, `${f}.tap`);
  const start = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--test',
        '--test-timeout=1200000',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tap}`,
        path.join(dir, f),
      ],
      { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child);
    const out = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => out.push(d));
    child.on('close', (code, signal) => {
      running.delete(child);
      const cpu = childCpu();
      let text = '';
      try {
        text = readFileSync(tap, 'utf8');
      } catch {
        /* the runner died before writing */
      }
      const count = (k) => Number((new RegExp(`^# ${k} (\\d+)`, 'm').exec(text) ?? [])[1] ?? 0);
      const r = {
        file: f,
        code: code ?? -1,
        signal,
        pass: count('pass'),
        fail: count('fail') + count('cancelled'),
        skipped: count('skipped'),
        seconds: (Date.now() - start) / 1000,
        cpu: cpu - cpuSeen,
        output: Buffer.concat(out).toString('utf8'),
      };
      cpuSeen = cpu;
      if (!text && r.fail === 0) r.fail = 1; // no report at all: the file itself failed
      resolve(r);
    });
  });
}

function report(r) {
  const head = `── ${r.file} (${r.seconds.toFixed(1)} s, CPU ${r.cpu.toFixed(1)} s${r.code !== 0 ? `, exit ${r.signal ?? r.code}` : ''})`;
  process.stdout.write(`${head}\n${r.output}${r.output.endsWith('\n') ? '' : '\n'}`);
}

for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    for (const c of running) c.kill(sig);
    process.exit(130);
  });

await new Promise((done) => {
  const next = () => {
    if (!queue.length && !busy.size) return done();
    while (busy.size < jobs && queue.length) {
      if ([...busy].some((f) => SOLO.includes(f))) return;
      const held = new Set([...busy].flatMap(groupsOf));
      const i = queue.findIndex((f) => !groupsOf(f).some((g) => held.has(g)) && (!busy.size || !SOLO.includes(f)));
      if (i < 0) return; // every waiting file needs a group a running file holds
      const [f] = queue.splice(i, 1);
      busy.add(f);
      runFile(f).then((r) => {
        busy.delete(f);
        results.push(r);
        report(r);
        next();
      });
    }
  };
  next();
});

// Record durations for the next run's order (best effort; write-and-rename so a concurrent reader never sees half).
try {
  const all = { ...recorded };
  for (const r of results) all[r.file] = Math.round(r.seconds * 10) / 10;
  const tmp = `${durationsFile}.${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(all, null, 1)}\n`);
  renameSync(tmp, durationsFile);
} catch {
  /* read-only dist: the order falls back to the table */
}

const sum = (k) => results.reduce((a, r) => a + r[k], 0);
const failedFiles = results.filter((r) => r.fail > 0 || r.code !== 0).map((r) => r.file);
const wall = (Date.now() - t0) / 1000;
const cpuAll = sum('cpu');
const slow = [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 8);
console.log(
  `${files.length} files in ${jobs} lane${jobs > 1 ? 's' : ''}: ${Math.floor(wall / 60)} min ${Math.round(wall % 60)} s, ` +
    `CPU ${Math.round(cpuAll)} s; ` +
    `slowest: ${slow.map((r) => `${r.file.replace(/\.test\.js$/, '')} ${Math.round(r.seconds)} s`).join(', ')}`,
);
if (failedFiles.length) console.log(`failed files: ${failedFiles.join(', ')}`);
console.log(`${sum('pass')} passed, ${sum('fail')} failed, ${sum('skipped')} skipped`);
process.exit(failedFiles.length ? 1 : 0);
