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
export const badInput = (msg: string, cause?: unknown): MedshieldError => new MedshieldError('BAD_INPUT', msg, { cause });
export const notFound = (msg: string): MedshieldError => new MedshieldError('NOT_FOUND', msg);
export const mismatch = (msg: string): MedshieldError => new MedshieldError('MISMATCH', msg);
export const unsupported = (msg: string): MedshieldError => new MedshieldError('UNSUPPORTED', msg);

/** Describe any thrown value in one line (no stack). */
export function oneLine(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] || e.name;
  return String(e).split('\n')[0];
}
