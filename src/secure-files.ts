/**
 * Writing keys, certificates and configs with the right permissions whatever the umask and whatever was
 * there before: a private key or config is written 0600 and its folder 0700, explicitly (fchmod before the
 * secret is written, so it never sits in a readable file), also when an existing 0644 file is replaced.
 * Files are replaced atomically (temporary file in the same folder, then rename), which also means a symlink
 * planted at the target is replaced, not followed. Folders are created one level at a time (no recursive
 * mkdir, which spins on some pseudo file systems such as /proc).
 * Refusing to overwrite without --force: refuseOverwrite.
 */
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  chmodSync,
  unlinkSync,
  writeSync,
  constants,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { badArgument } from './errors.js';

export const PRIVATE_FILE = 0o600;
export const PUBLIC_FILE = 0o644;
export const PRIVATE_DIR = 0o700;

/** Write `data` to `file` with exactly `mode` (default 0600), atomically. */
export function writeFileWithMode(file: string, data: string | Uint8Array, mode = PRIVATE_FILE): void {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0),
    mode,
  );
  try {
    fchmodSync(fd, mode); // the umask may have removed bits; a shared umask may not have added any
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
}

export const writePrivateFile = (file: string, data: string | Uint8Array): void =>
  writeFileWithMode(file, data, PRIVATE_FILE);
export const writePublicFile = (file: string, data: string | Uint8Array): void =>
  writeFileWithMode(file, data, PUBLIC_FILE);

/**
 * Create `dir` (and missing parents) one level at a time. Folders this call creates get `mode`; an existing
 * `dir` is set to `mode` only when `tighten` is true (a dedicated folder such as a gateway's pki/). Returns
 * whether `dir` was created.
 */
export function makeDir(dir: string, mode = PRIVATE_DIR, tighten = false): boolean {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let d = abs; !existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) {
    mkdirSync(d, mode);
    chmodSync(d, mode);
  }
  if (!missing.length) {
    if (!statSync(abs).isDirectory()) mkdirSync(abs); // throws EEXIST/ENOTDIR naming the path
    if (tighten) chmodSync(abs, mode);
  }
  return missing.length > 0;
}

/** Throw a one-line BAD_ARGUMENT naming the first of `files` that exists, unless `force`. */
export function refuseOverwrite(files: string[], force: boolean | undefined, what = 'file'): void {
  if (force) return;
  const existing = files.filter((f) => existsSync(f));
  if (existing.length)
    throw badArgument(
      `${what} '${existing[0]}' already exists` +
        `${existing.length > 1 ? ` (and ${existing.length - 1} more)` : ''}: use --force to overwrite`,
    );
}
