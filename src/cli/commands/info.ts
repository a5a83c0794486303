import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { VERSION } from '../../version.js';

export default function register(program: Command): void {
  withCommon(program.command('info').description('show the engine backend, threads and SIMD support')).action(
    action(async (o: CommonOptions) => {
      const e = await startEngine({ ...o, json: true });
      const out = {
        version: VERSION,
        backend: e.backend,
        threads: e.threads,
        simd: e.simd,
        ...(e.fallbackReason ? { fallbackReason: e.fallbackReason } : {}),
      };
      if (o.json) printJson(out);
      else
        process.stdout.write(
          `medshield ${VERSION}\nbackend: ${e.backend} (threads ${e.threads}, simd ` +
            `${e.simd})${e.fallbackReason ? `\nfallback: ${e.fallbackReason}` : ''}\n`,
        );
    }),
  );
}
