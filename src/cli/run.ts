/**
 * Shared CLI plumbing: common flags, error mapping (exit 2, one line), JSON output, engine start.
 * Command files (src/cli/commands/*.ts) stay thin: parse flags, call the library, print.
 */
import { type Command, Option } from 'commander';
import { MedshieldError, badArgument, fileSystemError, oneLine } from '../errors.js';
import type { BackendChoice, EngineInfo } from '../api/engine.js';

export interface CommonOptions {
  seed: number;
  json?: boolean;
  debug?: boolean;
  backend?: BackendChoice;
  threads?: number;
}

export function parseIntArg(name: string, min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n))
      throw badArgument(`${name} must be an integer, got '${v}'`);
    if (n < min || n > max) throw badArgument(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

export function parseFloatArg(name: string, min = -Infinity, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw badArgument(`${name} must be a number, got '${v}'`);
    if (n < min || n > max) throw badArgument(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** Add the flags every command takes: --seed, --json, --debug, --backend, --threads. */
export function withCommon(cmd: Command, opts: { json?: boolean } = {}): Command {
  cmd.option('--seed <n>', 'random seed (same seed, same numbers)', parseIntArg('--seed', 0, 2 ** 32 - 1), 0);
  if (opts.json !== false) cmd.option('--json', 'print machine-readable JSON on stdout');
  cmd.option('--debug', 'print stack traces on errors');
  cmd.addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', 'native', 'wasm', 'cpu']));
  cmd.option(
    '--threads <n>',
    'worker threads for the native backend (env MEDSHIELD_THREADS)',
    parseIntArg('--threads', 1, 256),
  );
  return cmd;
}

export async function startEngine(o: CommonOptions): Promise<EngineInfo> {
  const { initEngine } = await import('../api/engine.js');
  const info = await initEngine({ backend: o.backend, threads: o.threads });
  if (info.fallbackReason && !o.json && process.env.MEDSHIELD_QUIET !== '1') {
    process.stderr.write(`medshield: using the ${info.backend} backend (${info.fallbackReason})\n`);
  }
  return info;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

let debugMode = false;
export function setDebug(on: boolean): void {
  debugMode = on;
}

/** Print one line and exit 2 (bad input) or 1 (internal failure). */
export function fail(e: unknown): never {
  if (debugMode && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
  const fsErr = fileSystemError(e); // EACCES, EPERM, EROFS, ENOTDIR, ENOSPC, EISDIR, ...: where the user pointed us
  const msg = oneLine(fsErr ?? e);
  process.stderr.write(`medshield: error: ${msg}\n`);
  process.exit(e instanceof MedshieldError || fsErr || isUserError(e) ? 2 : 1);
}

/** Errors from libraries that are caused by the user's input (bad file, bad shape). */
function isUserError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES' || code === 'ENOTDIR';
}

/** Wrap a command action: errors become one line and exit 2. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const o = (cmd && typeof cmd.opts === 'function' ? cmd.opts() : {}) as CommonOptions;
    if (o.debug) setDebug(true);
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}

/** The command line as run, for reports: `medshield …`, arguments shell-quoted when `quote` is set. */
export function commandLine(quote = false): string {
  const q = (a: string): string => (!quote || /^[\w./,:=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  return ['medshield', ...process.argv.slice(2)].map(q).join(' ');
}

/** A reader that closes the pipe (`| head`) ends the command quietly, with the exit code set so far. */
export function exitOnClosedPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
}

/** Run `fn` with a signal that Ctrl-C (SIGINT) aborts when `on` (long work stops at a checkpoint, resumable). */
export async function abortOnSigint<T>(on: boolean, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  if (on) process.once('SIGINT', stop);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', stop);
  }
}

/** Print `value` as one JSON line with --json, else `text(value)`. */
export function printResult<T>(json: boolean | undefined, value: T, text: (v: T) => string): void {
  if (json) printJson(value);
  else process.stdout.write(text(value));
}

/** Serve until SIGINT or SIGTERM, then `close()` and exit 0 (1 when closing fails). */
export function serveUntilSignal(close: () => Promise<unknown>): Promise<never> {
  const stop = (): void => {
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return new Promise<never>(() => undefined);
}
