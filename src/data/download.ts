/**
 * Generic file download into medshield's data cache.
 *
 * The file is streamed into a hidden temporary file in the destination's own directory, its MD5 is
 * computed on the fly (node:crypto) and checked against the expected digest (MedMNIST publishes one
 * md5 per file in its INFO table), and only then is it renamed into place. rename(2) within one
 * directory is atomic on POSIX file systems, so a reader never sees a partial file under the final
 * name: on any failure (HTTP error, network error, truncated body, checksum mismatch) the temporary
 * file is removed and a one-line MedshieldError (code NETWORK or CHECKSUM) is thrown.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MedshieldError, oneLine } from '../errors.js';

export interface DownloadOptions {
  /** Expected MD5 digest (hex, case-insensitive). When given, a mismatch is an error. */
  md5?: string;
  /** Called after every chunk with bytes received so far and the announced total (null if unknown). */
  onProgress?: (done: number, total: number | null) => void;
  /** fetch implementation (tests or proxies); defaults to the global fetch of Node ≥ 18. */
  fetchImpl?: typeof fetch;
  /** Abort when no bytes arrive for this long (default 60 s). */
  idleTimeoutMs?: number;
}

/** Loopback hosts stay reachable in offline mode (local mirrors, tests). */
function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127\./.test(host);
  } catch {
    return false;
  }
}

/**
 * The cache directory for downloaded data sets: the `--data-dir` flag if given, else the
 * environment variable `MEDSHIELD_DATA`, else `~/.cache/medshield`.
 */
export function cacheDir(dataDirFlag?: string): string {
  if (dataDirFlag !== undefined && dataDirFlag !== '') return path.resolve(dataDirFlag);
  const env = process.env.MEDSHIELD_DATA;
  if (env !== undefined && env !== '') return path.resolve(env);
  return path.join(os.homedir(), '.cache', 'medshield');
}

const networkError = (msg: string, cause?: unknown): MedshieldError => new MedshieldError('NETWORK', msg, { cause });

/** Strip query and credentials from a URL so error messages stay short and safe. */
function shortUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}

/**
 * Download `url` to `dest` (following redirects), verify the MD5 if one is given, and move the file
 * into place atomically. Returns `dest`. Never leaves a partial file under `dest`.
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<string> {
  const fetchImpl = opts.fetchImpl ?? globalThis.fetch;
  const where = shortUrl(url);
  if (process.env.MEDSHIELD_OFFLINE === '1' && !isLoopback(url)) {
    throw networkError(`offline mode (MEDSHIELD_OFFLINE=1): not downloading ${where}`);
  }
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), idleMs);
  };
  const stalled = (): string => `no data for ${idleMs / 1000} s`;
  const dir = path.dirname(path.resolve(dest));
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new MedshieldError('IO', `cannot create directory ${dir}: ${oneLine(e)}`, { cause: e });
  }

  try {
    arm();
    return await fetchToFile(fetchImpl, url, dest, dir, where, opts, abort.signal, arm, stalled);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchToFile(
  fetchImpl: typeof fetch,
  url: string,
  dest: string,
  dir: string,
  where: string,
  opts: DownloadOptions,
  signal: AbortSignal,
  arm: () => void,
  stalled: () => string,
): Promise<string> {
  const tmp = path.join(dir, `.${path.basename(dest)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const reason = (e: unknown): string => (signal.aborted ? stalled() : oneLine((e as { cause?: unknown }).cause ?? e));
  let response: Response;
  try {
    response = await fetchImpl(url, { redirect: 'follow', signal });
  } catch (e) {
    throw networkError(`download of ${where} failed: ${reason(e)}`, e);
  }
  if (!response.ok) {
    // Drain nothing: cancel the body so the socket is released.
    await response.body?.cancel().catch(() => undefined);
    throw networkError(
      `download of ${where} failed: HTTP ${response.status}${response.statusText ? ' ' + response.statusText : ''}`,
    );
  }
  if (response.body === null) throw networkError(`download of ${where} failed: empty response`);

  const lengthHeader = response.headers.get('content-length');
  const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
  const hash = createHash('md5');
  let done = 0;
  const file = await open(tmp, 'wx');
  try {
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        arm();
        hash.update(chunk);
        await file.write(chunk);
        done += chunk.byteLength;
        opts.onProgress?.(done, total);
      }
    } catch (e) {
      throw networkError(`download of ${where} failed after ${done} bytes: ${reason(e)}`, e);
    }
    if (total !== null && done !== total) {
      throw networkError(`download of ${where} truncated: received ${done} of ${total} bytes`);
    }
    const digest = hash.digest('hex');
    if (opts.md5 !== undefined && digest !== opts.md5.toLowerCase()) {
      throw new MedshieldError(
        'CHECKSUM',
        `checksum mismatch for ${where}: md5 ${digest}, expected ${opts.md5.toLowerCase()}`,
      );
    }
    await file.sync();
    await file.close();
    await rename(tmp, dest);
    return dest;
  } catch (e) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof MedshieldError) throw e;
    throw new MedshieldError('IO', `cannot write ${dest}: ${oneLine(e)}`, { cause: e });
  }
}
