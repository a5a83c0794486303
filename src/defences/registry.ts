/**
 * Every defence, one line each, keyed by the name typed on the command line, and the spec parser.
 *
 * Spec grammar (documented in `medshield defend --help`):
 *   spec  := name | name ':' key '=' value (',' key '=' value)*      e.g. jpeg:q=75, blur:sigma=1.5
 *   chain := spec ('+' spec)*          transforms applied left to right: bitdepth:bits=4+median:k=3
 *   list  := chain ((';' | ',') chain)*   a ',' followed by `key=` continues the parameters of the
 *            current spec; a ',' followed by a name starts the next defence, so
 *            'jpeg:q=75,bitdepth:bits=4' is two defences and 'resizepad:max=1.2,bitdepth' too.
 * On the CLI `--defence` is repeatable: `--defence jpeg:q=75 --defence median:k=3`.
 * Values are numbers (a fraction such as 1/4 is accepted). Omitted parameters take their defaults.
 */
import type { Defence } from './types.js';
import { badArgument } from '../errors.js';
import { Registry, type JsonSchema, type RegistryEntry } from '../registry.js';
import { chain, transformDefence, type ParamSpec, type TransformFactory } from './wrap.js';
import { jpeg } from './jpeg.js';
import { bitdepth } from './bitdepth.js';
import { median } from './median.js';
import { blur } from './blur.js';
import { resizepad } from './resizepad.js';
import { tvm } from './tvm.js';
import { smoothingEntry } from './smoothing.js';

/** A registry entry: parameters and a constructor. Transform entries also build `InputTransform`s. */
export interface DefenceEntry {
  readonly name: string;
  readonly summary: string;
  readonly params: Record<string, ParamSpec>;
  create(p: Record<string, number>): Defence;
  /** Present for input transforms (they can be chained with '+'). */
  readonly transform?: TransformFactory;
}

const fromTransform = (t: TransformFactory): DefenceEntry => ({
  name: t.name,
  summary: t.summary,
  params: t.params,
  transform: t,
  create: (p) => transformDefence(t.make(p)),
});

/** A defence's parameters as JSON Schema (numbers; integer, range and default from its `ParamSpec`). */
function paramSchema(params: Record<string, ParamSpec>): JsonSchema {
  const properties = Object.fromEntries(
    Object.entries(params).map(([k, s]) => [
      k,
      {
        type: s.integer ? 'integer' : 'number',
        [s.minExclusive ? 'exclusiveMinimum' : 'minimum']: s.min,
        maximum: s.max,
        default: s.default,
        description: s.help + (s.odd ? ' (odd)' : ''),
      },
    ]),
  );
  return { type: 'object', properties, additionalProperties: false };
}

/** The registry shape: `create(params)` fills defaults and checks ranges as the spec parser does. */
export interface DefenceRegistryEntry extends RegistryEntry<Defence, Record<string, number>> {
  readonly entry: DefenceEntry;
}

const registered = (e: DefenceEntry): DefenceRegistryEntry => ({
  name: e.name,
  entry: e,
  schema: paramSchema(e.params),
  describe: {
    summary: e.summary,
    reference: e.transform?.reference ?? e.create(defaults(e)).reference,
    kind: e.transform ? 'transform' : 'smoothing',
    randomized: e.transform?.randomized ?? true,
  },
  create: (p = {}) => {
    const full = { ...defaults(e), ...p };
    for (const [k, v] of Object.entries(p)) {
      if (!e.params[k]) throw badArgument(`defence '${e.name}' has no parameter '${k}'`);
      checkParam(e.name, k, e.params[k], v);
    }
    return e.create(full);
  },
});

const defaults = (e: DefenceEntry): Record<string, number> =>
  Object.fromEntries(Object.entries(e.params).map(([k, s]) => [k, s.default]));

export const defenceRegistry = new Registry<Defence, Record<string, number>, DefenceRegistryEntry>(
  'defence',
  [
    registered(fromTransform(jpeg)),
    registered(fromTransform(bitdepth)),
    registered(fromTransform(median)),
    registered(fromTransform(blur)),
    registered(fromTransform(resizepad)),
    registered(fromTransform(tvm)),
    registered(smoothingEntry),
  ],
  'BAD_ARGUMENT',
);

export const DEFENCE_NAMES = (): string[] => defenceRegistry.names();

function parseValue(name: string, key: string, text: string): number {
  const t = text.trim();
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(?:\/(\d+\.?\d*))?$/i.exec(t);
  const v = m ? (m[2] !== undefined ? Number(m[1]) / Number(m[2]) : Number(m[1])) : NaN;
  if (!Number.isFinite(v)) throw badArgument(`defence '${name}': ${key} must be a number, got '${text}'`);
  return v;
}

function checkParam(name: string, key: string, s: ParamSpec, v: number): void {
  const range = `${s.minExclusive ? '>' : '≥'} ${s.min} and ≤ ${s.max}`;
  if (s.integer && !Number.isInteger(v))
    throw badArgument(`defence '${name}': ${key} must be an integer (${s.help}), got ${v}`);
  if ((s.minExclusive ? v <= s.min : v < s.min) || v > s.max)
    throw badArgument(`defence '${name}': ${key} must be ${range} (${s.help}), got ${v}`);
  if (s.odd && v % 2 !== 1) throw badArgument(`defence '${name}': ${key} must be odd (${s.help}), got ${v}`);
}

/** One `name[:key=value,…]` → the entry and its full parameters. */
function parseOne(text: string): { entry: DefenceEntry; params: Record<string, number> } {
  const t = text.trim();
  const colon = t.indexOf(':');
  const name = (colon < 0 ? t : t.slice(0, colon)).trim().toLowerCase();
  if (!name) throw badArgument(`empty defence name in '${text}' (choose ${DEFENCE_NAMES().join(', ')})`);
  const { entry } = defenceRegistry.get(name);
  const params: Record<string, number> = {};
  for (const [k, s] of Object.entries(entry.params)) params[k] = s.default;
  if (colon >= 0) {
    const body = t.slice(colon + 1).trim();
    if (!body) throw badArgument(`defence '${name}': nothing after ':' (write ${name} or ${name}:key=value)`);
    const seen = new Set<string>();
    for (const part of body.split(',')) {
      const eq = part.indexOf('=');
      const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const known = Object.keys(entry.params);
      if (eq < 0)
        throw badArgument(
          `defence '${name}': parameter '${part.trim()}' needs a value (key=value; ` +
            `${known.length ? `keys: ${known.join(', ')}` : 'it takes none'})`,
        );
      const s = entry.params[key];
      if (!s)
        throw badArgument(
          `defence '${name}' has no parameter '${key}' (` +
            `${known.length ? `keys: ${known.join(', ')}` : 'it takes none'})`,
        );
      if (seen.has(key)) throw badArgument(`defence '${name}': parameter '${key}' given twice`);
      seen.add(key);
      const v = parseValue(name, key, part.slice(eq + 1));
      checkParam(name, key, s, v);
      params[key] = v;
    }
  }
  return { entry, params };
}

/** A defence from one spec or '+' chain: `jpeg:q=75`, `bitdepth:bits=4+median:k=3`. */
export function getDefence(spec: string): Defence {
  const parts = spec.split('+').map(parseOne);
  if (parts.length === 1) return parts[0].entry.create(parts[0].params);
  const bad = parts.find((p) => !p.entry.transform);
  if (bad) throw badArgument(`defence '${bad.entry.name}' is not an input transform and cannot be chained with '+'`);
  return transformDefence(chain(parts.map((p) => p.entry.transform!.make(p.params))));
}

/** Several defences: `jpeg:q=75;median:k=3` or `jpeg:q=75,median:k=3` (see the grammar above). */
export function parseDefenceList(text: string): Defence[] {
  const groups: string[] = [];
  for (const segment of text.split(';')) {
    for (const token of segment.split(',')) {
      if (/^\s*[a-z][\w-]*\s*=/i.test(token) && groups.length && groups[groups.length - 1] !== '')
        groups[groups.length - 1] += `,${token}`;
      else groups.push(token.trim());
    }
    groups.push(''); // a ';' always ends the current defence
  }
  const specs = groups.filter((g) => g.trim() !== '');
  if (!specs.length) throw badArgument(`no defence given (choose ${DEFENCE_NAMES().join(', ')}, e.g. jpeg:q=75)`);
  return specs.map(getDefence);
}
