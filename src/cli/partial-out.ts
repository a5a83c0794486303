/**
 * `--out FILE` with partial results (`medshield attack`): the finished runs are written after every run,
 * atomically (temp file + rename, so a crash never leaves half a file); when the verb fails after it
 * started, FILE gets `{error, completed, partial}` and the error message says where they are kept.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MedshieldError } from '../errors.js';

type Run = Record<string, unknown>;
type Sample = { eps: string; index: number; success: boolean; queries?: number };

/** The verb's hooks (progress wrapped, onRun, onSample) and `guard`, which runs it and keeps partial results. */
export function partialOut(file: string | undefined, single: boolean) {
  let completed: Run[] = [];
  let started = false; // results are kept once the verb runs (not for a refused spec)
  const partial: Sample[] = [];
  const write = (value: unknown): void => {
    if (!file) return;
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const v = Array.isArray(value) && single && value.length === 1 ? value[0] : value;
    writeFileSync(`${file}.tmp`, JSON.stringify(v, null, 1) + '\n');
    renameSync(`${file}.tmp`, file);
  };
  return {
    hooks: <P>(progress: (label: string, total: number) => P) => ({
      progress: (label: string, total: number): P => {
        started = true;
        return progress(label, total);
      },
      onRun: (done: Run[]): void => {
        completed = done;
        partial.length = 0;
        write(done);
      },
      onSample: (p: Sample): number => partial.push(p),
    }),
    async guard<T>(run: () => Promise<T>): Promise<T> {
      try {
        return await run();
      } catch (e) {
        if (file && started) {
          const msg = e instanceof Error ? e.message : String(e);
          write({ error: msg, completed, partial });
          if (e instanceof MedshieldError) e.message = `${msg} (finished results kept in ${file})`;
        }
        throw e;
      }
    },
  };
}
