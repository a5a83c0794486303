/**
 * `medshield sbom` — a CycloneDX SBOM (JSON) of the installed gateway's runtime dependencies, made by the
 * CycloneDX project's own npm tool (@cyclonedx/cyclonedx-npm, which reads `npm ls`), as FDA premarket
 * cybersecurity guidance expects for a deployed device. Needs npm on PATH and the installed node_modules.
 */
import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { action, withCommon, type CommonOptions } from '../run.js';
import { MedshieldError } from '../../errors.js';
import { PACKAGE_ROOT } from '../../version.js';

const require = createRequire(import.meta.url);

export default function register(program: Command): void {
  withCommon(
    program
      .command('sbom')
      .description('write a CycloneDX SBOM (JSON) of the runtime dependencies')
      .option('--out <FILE>', 'output file (default: stdout)')
      .option('--spec-version <v>', 'CycloneDX spec version', '1.6')
      .option('--include-dev', 'include development dependencies'),
    { json: false },
  ).action(
    action(async (o: CommonOptions & { out?: string; specVersion: string; includeDev?: boolean }) => {
      const bin = path.join(path.dirname(require.resolve('@cyclonedx/cyclonedx-npm')), 'bin', 'cyclonedx-npm-cli.js');
      const args = [
        bin,
        '--output-format',
        'JSON',
        '--spec-version',
        o.specVersion,
        '--output-file',
        o.out ? path.resolve(o.out) : '-',
        ...(o.includeDev ? [] : ['--omit', 'dev']),
      ];
      const r = spawnSync(process.execPath, args, {
        cwd: PACKAGE_ROOT,
        stdio: ['ignore', 'inherit', 'pipe'],
        encoding: 'utf8',
      });
      if (r.status !== 0)
        throw new MedshieldError(
          'INTERNAL',
          `cyclonedx-npm failed: ${(r.stderr || '').trim().split('\n').pop() ?? 'unknown error'}`,
        );
    }),
  );
}
