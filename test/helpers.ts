/** Shared test helpers: paths to real data and a CLI runner. */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../src/version.js';

export const ROOT = PACKAGE_ROOT;
export const SHARED = path.join(ROOT, '..', 'shared', 'data');
export const EMBEDDED_NPZ = path.join(ROOT, 'data', 'pneumoniamnist.npz');
export const RETINA_NPZ = path.join(SHARED, 'medmnist', 'retinamnist.npz');
export const DICOM_DIR = path.join(SHARED, 'dicom');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the medshield CLI (compiled) with arguments; returns exit code and output. */
export function cli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'medshield.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
    env: { ...process.env, MEDSHIELD_OFFLINE: '1', ...opts.env },
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The CLI in a child process without blocking this one (tests that also run a server in-process). */
export function cliAsync(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'medshield.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, MEDSHIELD_OFFLINE: '1', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Assert-friendly check that a CLI failure is one clean line with exit code 2. */
export function isCleanError(r: CliResult): boolean {
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('medshield: using the'));
  return (
    r.code === 2 && lines.length === 1 && lines[0].startsWith('medshield: error: ') && !/\bat .+:\d+:\d+/.test(r.stderr)
  );
}

/** A raw .npy (v1) of `data` with numpy dtype `descr` — any descr, so reader tests can build odd and broken arrays. */
export function npyBytes(descr: string, shape: number[], data: Uint8Array): Uint8Array {
  let header =
    `{'descr': '${descr}', 'fortran_order': False, 'shape': ` +
    `(${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 255, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

/**
 * A PostgreSQL server for the store tests: MEDSHIELD_PG_URL, else a throw-away server started by
 * scripts/start-postgres.sh (Debian's postgresql). `skip` says why there is none.
 */
export function postgresServer(): { url: string | null; skip: string | false } {
  if (process.env.MEDSHIELD_PG_URL) return { url: process.env.MEDSHIELD_PG_URL, skip: false };
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'start-postgres.sh')], { encoding: 'utf8', timeout: 60_000 });
  const m = /MEDSHIELD_PG_URL=(\S+)/.exec(r.stdout ?? '');
  if (m) return { url: m[1], skip: false };
  const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
  return {
    url: null,
    skip: `no PostgreSQL server could be started (${why}); install Debian's postgresql or set MEDSHIELD_PG_URL`,
  };
}
