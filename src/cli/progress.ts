/**
 * Progress for long work, on stderr only (stdout is reserved for results, so `--json` runs show
 * progress too):
 * - `bar`: a bar with ETA, redrawn in place — the default when stderr is a terminal;
 * - `plain`: lines a log can keep — the default otherwise (CI, nohup, Docker, pipes): one line when a
 *   stage starts, one when it ends, and between them a `done/total, elapsed, ETA` line every 30 s
 *   (env MEDSHIELD_PROGRESS_INTERVAL_MS). The periodic line comes from a heartbeat on a worker thread
 *   that reads the stage's counters from shared memory and writes with a direct write(2), so it
 *   still prints while the main thread is busy in one long synchronous step (a native kernel, a
 *   large batch);
 * - `off`: no progress.
 * `MEDSHIELD_PROGRESS=off|plain|bar` forces a mode; `MEDSHIELD_QUIET=1` (or `quiet`) silences all.
 */
import cliProgress from 'cli-progress';
import { Worker } from 'node:worker_threads';

export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  log(line: string): void;
  stop(): void;
}

export type ProgressMode = 'off' | 'plain' | 'bar';

const envQuiet = (): boolean => process.env.MEDSHIELD_QUIET === '1';

/** A one-line message on stderr (a stage of long work, a caveat), unless MEDSHIELD_QUIET=1. */
export function note(line: string): void {
  if (!envQuiet()) process.stderr.write(line + '\n');
}

/** The progress mode from the environment: MEDSHIELD_PROGRESS, else bar on a terminal, plain otherwise. */
export function progressMode(): ProgressMode {
  if (envQuiet()) return 'off';
  const forced = (process.env.MEDSHIELD_PROGRESS ?? '').trim().toLowerCase();
  if (forced === 'off' || forced === 'plain' || forced === 'bar') return forced;
  return process.stderr.isTTY && process.env.CI !== 'true' ? 'bar' : 'plain';
}

/** Seconds between plain progress lines (MEDSHIELD_PROGRESS_INTERVAL_MS, default 30 s). */
function intervalMs(): number {
  const v = Number(process.env.MEDSHIELD_PROGRESS_INTERVAL_MS);
  return Number.isFinite(v) && v >= 20 ? v : 30_000;
}

/** m:ss or h:mm:ss. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

/**
 * The periodic line: `label: done/total (p%), elapsed m:ss, ETA m:ss | fields` (total ≤ 0: a stage of unknown length).
 */
export function statusLine(label: string, done: number, total: number, elapsedS: number, fields: string): string {
  if (!(total > 0)) return `medshield: ${label}: ${fields || 'working'}, elapsed ${clock(elapsedS)}`;
  const pct = total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : '';
  const eta =
    done > 0 && total > done ? clock((elapsedS * (total - done)) / done) : done >= total && total > 0 ? '0:00' : '?';
  return (
    `medshield: ${label}: ${done}/${total}${pct}, elapsed ` +
    `${clock(elapsedS)}, ETA ${eta}${fields ? ` | ${fields}` : ''}`
  );
}

// ---- the heartbeat: shared counters + a worker that prints them -----------------------------------

/** Float64 slots: done, total, stage start (ms), last line (ms), active (0/1), interval (ms). */
const F_DONE = 0;
const F_TOTAL = 1;
const F_START = 2;
const F_LAST = 3;
const F_ACTIVE = 4;
const F_INTERVAL = 5;
const TEXT_BYTES = 1024;

interface Heartbeat {
  f64: Float64Array;
  seq: Int32Array;
  text: Uint8Array;
}
let heart: Heartbeat | null = null;
let online: Promise<boolean> = Promise.resolve(false);

const WORKER =
  `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const f64 = new Float64Array(workerData.f64); const seq = new Int32Array(workerData.seq); const text = new ` +
  `Uint8Array(workerData.text);
const dec = new TextDecoder();
${clock.toString()}
${statusLine.toString()}
function readText() {
  for (let tries = 0; tries < 100; tries++) {
    const a = Atomics.load(seq, 0);
    if (a & 1) continue;
    const len = Atomics.load(seq, 1);
    const s = dec.decode(text.slice(0, len));
    if (Atomics.load(seq, 0) === a) return s;
  }
  return '';
}
setInterval(() => {
  if (!f64[${F_ACTIVE}]) return;
  const now = Date.now();
  if (now - f64[${F_LAST}] < f64[${F_INTERVAL}]) return;
  f64[${F_LAST}] = now;
  const t = readText(); const cut = t.indexOf('\\u0000');
  const label = cut < 0 ? t : t.slice(0, cut); const fields = cut < 0 ? '' : t.slice(cut + 1);
  try { writeSync(2, statusLine(label, f64[${F_DONE}], f64[${F_TOTAL}], (now - f64[${F_START}]) / 1000, fields) + ` +
  `'\\n'); } catch {}
}, Math.max(10, Math.min(1000, Math.floor(${'${INTERVAL}'} / 4))));
`;

function heartbeat(): Heartbeat | null {
  if (heart) return heart;
  try {
    const sab = {
      f64: new SharedArrayBuffer(8 * 8),
      seq: new SharedArrayBuffer(4 * 2),
      text: new SharedArrayBuffer(TEXT_BYTES),
    };
    const h: Heartbeat = {
      f64: new Float64Array(sab.f64),
      seq: new Int32Array(sab.seq),
      text: new Uint8Array(sab.text),
    };
    h.f64[F_INTERVAL] = intervalMs();
    const w = new Worker(WORKER.replace('${INTERVAL}', String(h.f64[F_INTERVAL])), {
      eval: true,
      workerData: sab,
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    online = new Promise((resolve) => {
      w.once('online', () => resolve(true));
      w.once('error', () => resolve(false));
    });
    w.unref();
    w.on('error', (e) => {
      if (process.env.MEDSHIELD_PROGRESS_DEBUG) process.stderr.write(String(e) + '\n');
    });
    heart = h;
  } catch {
    heart = null;
  }
  return heart;
}

/** Resolves once the heartbeat thread of plain progress runs (false if it could not start or none was started). */
export function heartbeatOnline(): Promise<boolean> {
  return online;
}

function setText(h: Heartbeat, label: string, fields: string): void {
  const bytes = new TextEncoder().encode(`${label}\u0000${fields}`).subarray(0, TEXT_BYTES);
  Atomics.add(h.seq, 0, 1);
  h.text.set(bytes);
  Atomics.store(h.seq, 1, bytes.length);
  Atomics.add(h.seq, 0, 1);
}

/** Plain lines: start, a heartbeat status line every interval, end. */
function plainProgress(label: string, total: number): Progress {
  const start = Date.now();
  const h = heartbeat();
  let done = 0;
  let fields = '';
  let stopped = false;
  process.stderr.write(`medshield: ${label}: started (${total} to do)\n`);
  if (h) {
    setText(h, label, '');
    h.f64[F_DONE] = 0;
    h.f64[F_TOTAL] = total;
    h.f64[F_START] = start;
    h.f64[F_LAST] = start;
    h.f64[F_ACTIVE] = 1;
  }
  return {
    update: (d, f) => {
      if (stopped) return;
      done = d;
      if (f) {
        const s = Object.entries(f)
          .map(([k, v]) => `${k} ${v}`)
          .join(' ');
        if (s !== fields) {
          fields = s;
          if (h) setText(h, label, fields);
        }
      }
      if (h) h.f64[F_DONE] = d;
    },
    log: (line) => {
      process.stderr.write(line + '\n');
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (h) h.f64[F_ACTIVE] = 0;
      const s = (Date.now() - start) / 1000;
      process.stderr.write(
        `medshield: ${label}: ${done >= total ? 'done' : 'stopped at'} ${done}/${total} in ${clock(s)}\n`,
      );
    },
  };
}

export function progress(label: string, total: number, opts: { quiet?: boolean } = {}): Progress {
  const mode: ProgressMode = opts.quiet ? 'off' : progressMode();
  if (mode === 'off') {
    const quiet = !!opts.quiet || envQuiet();
    return {
      update: () => {},
      log: (line) => {
        if (!quiet) process.stderr.write(line + '\n');
      },
      stop: () => {},
    };
  }
  if (mode === 'plain') return plainProgress(label, total);
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {info}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      noTTYOutput: !process.stderr.isTTY,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  let last = 0;
  let info = '';
  return {
    update: (done, fields) => {
      last = done;
      if (fields)
        info = Object.entries(fields)
          .map(([k, v]) => `${k} ${v}`)
          .join(' ');
      bar.update(done, { info });
    },
    log: (line) => {
      bar.stop();
      process.stderr.write(line + '\n');
      bar.start(total, last, { info });
    },
    stop: () => bar.stop(),
  };
}

export interface Activity {
  /** A new stage: one line `medshield: <label>: <what>` (unless quiet), and the heartbeat names it until the next. */
  stage(what: string): void;
  stop(): void;
}

/**
 * Long work made of named stages of unknown length (detector fitting, a replication): each stage is
 * one line; in plain mode the heartbeat repeats the current stage with the elapsed time every interval.
 */
export function activity(label: string): Activity {
  const mode = progressMode();
  if (mode !== 'plain') return { stage: (what) => note(`medshield: ${label}: ${what}`), stop: () => {} };
  const h = heartbeat();
  const start = Date.now();
  let stopped = false;
  if (h) {
    setText(h, label, '');
    h.f64[F_DONE] = 0;
    h.f64[F_TOTAL] = 0;
    h.f64[F_START] = start;
    h.f64[F_LAST] = start;
    h.f64[F_ACTIVE] = 1;
  }
  return {
    stage: (what) => {
      process.stderr.write(`medshield: ${label}: ${what}\n`);
      if (h && !stopped) {
        setText(h, label, what);
        h.f64[F_LAST] = Date.now();
        h.f64[F_ACTIVE] = 1;
      }
    },
    stop: () => {
      if (!stopped && h) h.f64[F_ACTIVE] = 0;
      stopped = true;
    },
  };
}

/** A bar over files (`signing [...] 3/20 file.dcm`) when stderr is a terminal and there are several; else none. */
export function fileBar(verb: string, n: number, json?: boolean): cliProgress.SingleBar | null {
  if (n <= 1 || !process.stderr.isTTY || json) return null;
  const format = `${verb} [{bar}] {value}/{total} {file}`;
  const bar = new cliProgress.SingleBar({ format, stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(n, 0, { file: '' });
  return bar;
}
