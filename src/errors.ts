/**
 * Errors are values with a code and a one-line message naming the problem.
 * The CLI maps every MedshieldError to `medshield: error: <message>` and exit code 2.
 */
export type ErrorCode =
  | 'BAD_ARGUMENT'
  | 'BAD_INPUT'
  | 'NOT_FOUND'
  | 'UNSUPPORTED'
  | 'MISMATCH'
  | 'IO'
  | 'NETWORK'
  | 'CHECKSUM'
  | 'INTERNAL';

export class MedshieldError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), options);
    this.name = 'MedshieldError';
    this.code = code;
  }
}

export const badArgument = (msg: string): MedshieldError => new MedshieldError('BAD_ARGUMENT', msg);
export const badInput = (msg: string, cause?: unknown): MedshieldError =>
  new MedshieldError('BAD_INPUT', msg, { cause });
export const notFound = (msg: string): MedshieldError => new MedshieldError('NOT_FOUND', msg);
export const mismatch = (msg: string): MedshieldError => new MedshieldError('MISMATCH', msg);
export const unsupported = (msg: string): MedshieldError => new MedshieldError('UNSUPPORTED', msg);

/** Describe any thrown value in one line (no stack). */
export function oneLine(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] || e.name;
  return String(e).split('\n')[0];
}

/** Node file-system error codes caused by where the user pointed a command (exit 2, one line), not by a bug. */
const FS_USER_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a path component is not a folder',
  EISDIR: 'is a folder',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  EFBIG: 'file too large',
  ENOTEMPTY: 'folder not empty',
  EXDEV: 'cannot move across file systems',
  ETXTBSY: 'file busy',
};

/**
 * A file-system error (EACCES, EPERM, EROFS, ENOTDIR, ENOSPC, EISDIR, ...) as a one-line IO MedshieldError
 * naming the operation, the path and the reason, e.g. "cannot write '/x/out.json': permission denied (EACCES)";
 * undefined for anything else.
 */
export function fileSystemError(e: unknown): MedshieldError | undefined {
  if (!(e instanceof Error)) return undefined;
  const { code, syscall, path: p, dest } = e as NodeJS.ErrnoException & { dest?: string };
  if (!code || !(code in FS_USER_ERRORS)) return undefined;
  const verb =
    syscall === 'open' || syscall === 'write' || syscall === 'read'
      ? 'cannot open'
      : syscall === 'mkdir'
        ? 'cannot create folder'
        : syscall === 'rename'
          ? 'cannot replace'
          : syscall === 'scandir'
            ? 'cannot list'
            : syscall === 'unlink' || syscall === 'rmdir'
              ? 'cannot remove'
              : syscall
                ? `cannot ${syscall}`
                : 'file error on';
  const where = syscall === 'rename' && dest ? dest : p;
  return new MedshieldError('IO', `${verb} ${where ? `'${where}'` : 'a file'}: ${FS_USER_ERRORS[code]} (${code})`, {
    cause: e,
  });
}
