/** `medshield` — the command line: a thin shell over the library. */
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';
import { fail, setDebug } from './run.js';
import { VERSION } from '../version.js';
import { badArgument } from '../errors.js';

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--debug')) setDebug(true);
  const program = new Command();
  program.name('medshield').description('Secure AI for medical imaging').version(VERSION);
  program.exitOverride();
  program.configureOutput({ writeErr: () => {} });
  program.showHelpAfterError(false);
  // Load only the command being run (all of them for help or an unknown name).
  const first = argv.find((a) => !a.startsWith('-'));
  const wanted = commands.filter((c) => first !== undefined && c.names.includes(first));
  for (const entry of wanted.length ? wanted : commands) (await entry.load()).default(program);
  for (const c of program.commands) {
    c.exitOverride();
    c.configureOutput({ writeErr: () => {} });
    for (const s of c.commands) {
      s.exitOverride();
      s.configureOutput({ writeErr: () => {} });
    }
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
        process.exit(0);
      const msg = e.message.replace(/^error:\s*/, '');
      fail(badArgument(msg));
    }
    fail(e);
  }
}
