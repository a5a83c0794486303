/**
 * Command flags as a table: one row per flag, `'flags; modifier; …': 'help text'`, in help order, turned into
 * commander options by `addFlags`. The flags part is commander's own (`--out <file>`, `--no-augment`); the
 * modifiers, separated by `;`:
 *   required        the flag must be given
 *   default X       its value when absent (a number after int/num)
 *   one of a|b|c    commander choices
 *   int A..B        an integer in [A, B] (parseIntArg: "--limit must be between 1 and 1000000000, got 0")
 *   num A..B        a number in [A, B] (parseFloatArg)
 *   repeat          repeatable, the values as a list
 *   env NAME        read from that environment variable when absent
 *
 *   addFlags(cmd, { '--limit <n>; int 1..1e9': 'attack a seeded sample of N images' });
 */
import { type Command, Option } from 'commander';
import { parseFloatArg, parseIntArg } from './run.js';
import { badArgument } from '../errors.js';

/** Flag rows: `'flags; modifier; …'` → help text, in help order. */
export type FlagTable = Record<string, string>;

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** The commander option of one table row. */
export function flagOption(key: string, help: string): Option {
  const [flags, ...mods] = key.split(/;\s*/);
  const opt = new Option(flags!, help);
  const name = opt.long ?? opt.short ?? flags!;
  let dflt: string | undefined;
  let numeric = false;
  for (const m of mods) {
    const [word, ...rest] = m.split(/\s+/);
    const arg = rest.join(' ');
    const range = /^(\S+)\.\.(\S+)$/.exec(arg);
    if (word === 'required') opt.makeOptionMandatory();
    else if (word === 'default') dflt = arg;
    else if (word === 'repeat') opt.argParser(collect);
    else if (word === 'env') opt.env(arg);
    else if (word === 'one' && rest[0] === 'of') opt.choices(rest.slice(1).join(' ').split('|'));
    else if ((word === 'int' || word === 'num') && range) {
      const [min, max] = [Number(range[1]), Number(range[2])];
      opt.argParser(word === 'int' ? parseIntArg(name, min, max) : parseFloatArg(name, min, max));
      numeric = true;
    } else throw new Error(`flag table: bad modifier '${m}' in '${key}'`);
  }
  if (dflt !== undefined) opt.default(numeric ? Number(dflt) : dflt);
  return opt;
}

/** Add the rows of flag tables to a command, in order. */
export function addFlags(cmd: Command, ...tables: FlagTable[]): Command {
  for (const table of tables) for (const [key, help] of Object.entries(table)) cmd.addOption(flagOption(key, help));
  return cmd;
}

/** The values of the space-separated `keys` of `o`, under the same names: parsed flags copied into a spec. */
export function pick<T = object>(o: object, keys: string): NoInfer<T> {
  const src = o as Record<string, unknown>;
  return Object.fromEntries(keys.split(' ').map((k) => [k, src[k]])) as T;
}

/** A comma-separated list of names (blanks dropped); undefined stays undefined. */
export function nameList(v: string | undefined): string[] | undefined {
  return v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A comma-separated list of numbers, or a bad-argument error naming the flag. */
export function numberList(flag: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const xs = nameList(v)!.map(Number);
  if (!xs.length || xs.some((x) => !Number.isFinite(x)))
    throw badArgument(`${flag} '${v}' is not a comma-separated list of numbers`);
  return xs;
}
