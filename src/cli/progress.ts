/**
 * Progress for long work: a bar with ETA on a terminal (stderr), plain lines otherwise.
 * Never writes to stdout, which is reserved for results (JSON).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields?: Record<string, string | number>): void;
  log(line: string): void;
  stop(): void;
}

export function progress(label: string, total: number, opts: { quiet?: boolean } = {}): Progress {
  const tty = process.stderr.isTTY && !opts.quiet && process.env.CI !== 'true';
  if (!tty) {
    return {
      update: () => {},
      log: (line) => { if (!opts.quiet) process.stderr.write(line + '\n'); },
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
