/** `medshield keys init` — a test CA with RSA and EC signer certificates (PEM), for signing demos and tests. */
import type { Command } from 'commander';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { writeTestPki } from '../../api/provenance.js';

export default function register(program: Command): void {
  const keys = program.command('keys').description('test keys and certificates for image signing');
  withCommon(
    keys
      .command('init')
      .description('create a test CA and RSA + EC signer certificates as PEM files (keys 0600)')
      .requiredOption('--out <DIR>', 'folder for the PEM files')
      .option('--force', 'overwrite existing PEM files'),
  ).action(
    action(async (o: CommonOptions & { out: string; force?: boolean }) => {
      const files = await writeTestPki(o.out, { force: o.force });
      if (o.json) printJson(files);
      else
        process.stdout.write(
          Object.entries(files)
            .map(([k, v]) => `${k}: ${v}`)
            .join('\n') + '\n',
        );
    }),
  );
}
