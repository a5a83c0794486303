/**
 * One registry shape for every pluggable part — attacks, defences, detectors, adaptive attacks:
 * `name → { create(params), describe, schema }`.
 *
 * - Names are kebab-case (`apgd-ce`, `kd-bu`). A lookup ignores case and reads '_' and spaces as '-',
 *   so the old snake_case spellings (`kd_bu`, `deepfeature_rf`) still resolve; entries may also list
 *   explicit aliases.
 * - `describe` is what a user or a report reads: a one-line summary, the paper, the kind (threat model,
 *   transform, detector, adaptive) and, for attacks, the norms.
 * - `schema` is a JSON Schema (draft-07, compiled with ajv) of the entry's options; `create` and
 *   `validate` check parameters against it, so a campaign spec and the CLI refuse the same typos.
 * - An unknown name is a one-line exit-2 `MedshieldError` naming the choices and the closest name
 *   (Levenshtein distance), e.g. "unknown attack 'pdg': did you mean 'pgd'? (choose fgsm, bim, pgd, …)".
 *
 *   const pgd = attackRegistry.get('pgd').create({ steps: 40 });
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { MedshieldError, badArgument, type ErrorCode } from './errors.js';

/** A JSON Schema object (draft-07). */
export type JsonSchema = Record<string, unknown>;

/** What an entry tells a reader: summary, paper, kind, and whatever else is useful (norms, defaults). */
export interface Description {
  readonly summary: string;
  readonly reference: string;
  /** Attacks: threat model (whitebox, score, decision, transfer); else transform, smoothing, detector, adaptive. */
  readonly kind: string;
  readonly norms?: readonly string[];
  readonly [extra: string]: unknown;
}

export interface RegistryEntry<T, P = Record<string, unknown>> {
  /** Canonical (kebab-case) name. */
  readonly name: string;
  /** Other accepted spellings (old names); matched after the same normalisation as names. */
  readonly aliases?: readonly string[];
  readonly describe: Description;
  /** JSON Schema of `create`'s parameters. */
  readonly schema: JsonSchema;
  create(params?: P): T;
}

/** Lower case, '_' and blanks read as '-'. */
const normalizeName = (name: string): string =>
  name
    .trim()
    .toLowerCase()
    .replace(/[_\s]+/g, '-');

/** True for a kebab-case name: lower-case letters and digits in '-'-separated words. */
export const isKebabCase = (name: string): boolean => /^[a-z0-9]+(-[a-z0-9]+)*$/.test(name);

/** Edit distance: insertions, deletions, substitutions and swaps of neighbours (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate closest to `name` (ties: the first), if it is close enough to be a plausible typo. */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const n = normalizeName(name);
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d =
      n.length >= 2 && (c.startsWith(n) || n.startsWith(c)) ? Math.min(1, editDistance(n, c)) : editDistance(n, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return bestD <= Math.max(1, Math.floor(n.length / 3)) ? best : undefined;
}

/** The one-line error for a name nobody registered: choices and the closest one. */
function unknownName(
  what: string,
  name: string,
  names: readonly string[],
  code: ErrorCode = 'UNSUPPORTED',
): MedshieldError {
  const near = closestName(name, names);
  return new MedshieldError(
    code,
    `unknown ${what} '${name}'${near ? `: did you mean '${near}'?` : ''} (choose ${names.join(', ')})`,
  );
}

const ajv = new Ajv({ allErrors: false, strict: true, useDefaults: false });

export class Registry<T, P = Record<string, unknown>, E extends RegistryEntry<T, P> = RegistryEntry<T, P>> {
  private readonly byName = new Map<string, E>();
  private readonly alias = new Map<string, string>();
  private readonly declared = new Map<string, string>();
  private readonly validators = new Map<string, ValidateFunction>();

  /**
   * @param what  the noun in messages ("attack", "defence", "detector", "adaptive attack")
   * @param code  error code of an unknown name (exit 2 either way)
   */
  constructor(
    readonly what: string,
    entries: readonly E[],
    private readonly code: ErrorCode = 'UNSUPPORTED',
  ) {
    for (const e of entries) {
      if (!isKebabCase(e.name)) throw new Error(`internal: ${what} name '${e.name}' is not kebab-case`);
      if (this.byName.has(e.name)) throw new Error(`internal: ${what} '${e.name}' registered twice`);
      this.byName.set(e.name, e);
    }
    for (const e of entries) {
      for (const a of e.aliases ?? []) {
        const k = normalizeName(a);
        if (k !== e.name && (this.byName.has(k) || this.alias.has(k)))
          throw new Error(`internal: ${what} alias '${a}' is taken`);
        if (k !== e.name) this.alias.set(k, e.name);
        this.declared.set(a, e.name);
      }
    }
  }

  /** Canonical names, in registration order. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Every declared alias (old names, as written) → its canonical name. */
  aliases(): Record<string, string> {
    return Object.fromEntries(this.declared);
  }

  entries(): E[] {
    return [...this.byName.values()];
  }

  /** The canonical name of `name` (any case, '_' or '-', or an alias), or undefined. */
  canonical(name: string): string | undefined {
    const k = normalizeName(name);
    return this.byName.has(k) ? k : this.alias.get(k);
  }

  has(name: string): boolean {
    return this.canonical(name) !== undefined;
  }

  /** The entry, or a one-line exit-2 error listing the names and the closest. */
  get(name: string): E {
    const c = this.canonical(name);
    if (c === undefined) throw unknownName(this.what, name, this.names(), this.code);
    return this.byName.get(c)!;
  }

  /** Check parameters against the entry's schema; a one-line BAD_ARGUMENT error names the first problem. */
  validate(name: string, params: unknown): P {
    const e = this.get(name);
    let v = this.validators.get(e.name);
    if (!v) {
      v = ajv.compile(e.schema);
      this.validators.set(e.name, v);
    }
    if (!v(params ?? {})) {
      const err = v.errors![0];
      const where = err.instancePath ? `'${err.instancePath.slice(1).replace(/\//g, '.')}'` : 'options';
      const options = Object.keys((e.schema.properties ?? {}) as object).join(', ') || 'none';
      const extra =
        err.keyword === 'additionalProperties'
          ? `has no option '${(err.params as { additionalProperty: string }).additionalProperty}' (options: ${options})`
          : err.keyword === 'enum'
            ? `${where} must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
            : `${where} ${err.message}`;
      throw badArgument(`${this.what} '${e.name}': ${extra}`);
    }
    return (params ?? {}) as P;
  }

  /** Validate `params`, then create. */
  create(name: string, params?: P): T {
    const e = this.get(name);
    return e.create(params === undefined ? undefined : this.validate(e.name, params));
  }
}
