/**
 * Progress for long work: a bar with ETA on a terminal (stderr), plain lines otherwise.
 * Never writes to stdout, which is reserved for results (JSON), so `--json` runs show progress too;
 * `MEDSHIELD_QUIET=1` (or `quiet`) silences it.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  log(line: string): void;
  stop(): void;
}

const envQuiet = (): boolean => process.env.MEDSHIELD_QUIET === '1';

/** A one-line message on stderr (a stage of long work, a caveat), unless MEDSHIELD_QUIET=1. */
export function note(line: string): void {
  if (!envQuiet()) process.stderr.write(line + '\n');
}

export function progress(label: string, total: number, opts: { quiet?: boolean } = {}): Progress {
  const quiet = !!opts.quiet || envQuiet();
  const tty = process.stderr.isTTY && !quiet && process.env.CI !== 'true';
  if (!tty) {
    return {
      update: () => {},
      log: (line) => { if (!quiet) process.stderr.write(line + '\n'); },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {info}`,
    stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { info: '' });
  let last = 0; let info = '';
  return {
    update: (done, fields) => {
      last = done;
      if (fields) info = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' ');
      bar.update(done, { info });
    },
    log: (line) => { bar.stop(); process.stderr.write(line + '\n'); bar.start(total, last, { info }); },
    stop: () => bar.stop(),
  };
}
