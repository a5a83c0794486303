/**
 * Campaign specs (issue 22, item 2): one YAML or JSON file declaring the models, the data sample,
 * the attacks × ε and the detectors of an evaluation. Validated by one JSON Schema (ajv), then by the
 * registries (attack and detector names, ε values); every error names the field, e.g.
 * "campaign spec smoke.yaml: attacks.1.eps.0 must be greater than 0, got '-1/255'".
 * ε is written as users write it on the command line: a number or a fraction of the 8-bit grey scale
 * ("8/255"; YAML reads `8/255` unquoted as that string).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { badInput, oneLine } from '../../errors.js';
import { parseEpsilon } from '../../attacks/epsilon.js';
import { getAttack } from '../../attacks/registry.js';
import { createDetector } from '../../detectors/registry.js';

/** ε as written in the spec, and its value. */
export interface EpsValue {
  value: number;
  text: string;
}

export interface ModelEntry {
  /** A shipped name ('default'), a model directory or an imported ONNX model directory. */
  ref: string;
  /** Label in results (default: the ref). */
  name: string;
  /** Expected SHA-256 of the weights; workers refuse a model that differs. */
  sha256?: string;
}

export interface AttackEntry {
  attack: string;
  /** Label in results (default: the attack name); must be unique. */
  name: string;
  eps: EpsValue[];
  norm?: 'linf' | 'l2' | 'l1' | 'l0';
  steps?: number;
  stepSize?: EpsValue;
  restarts?: number;
  loss?: 'ce' | 'cw' | 'dlr';
  maxQueries?: number;
  pInit?: number;
  randomStart?: boolean;
}

export interface DetectorEntry {
  detector: string;
  trainAttack: string;
  /** Attacks the fitted detector is tested on (default: the train attack). */
  testAttacks: string[];
  eps: EpsValue[];
  /** Images of the fit split attacked for fitting (default: data.limit, else 300). */
  fitLimit: number;
  fitSplit: 'train' | 'val';
  steps?: number;
}

export interface CampaignSpec {
  name: string;
  seed: number;
  models: ModelEntry[];
  data: { dataset: string; split: 'train' | 'val' | 'test'; limit?: number };
  attacks: AttackEntry[];
  detectors: DetectorEntry[];
  shardSize: number;
  /** Images per attack batch inside a shard. */
  batchSize: number;
  /** The spec file's folder (relative model paths are read from there); not part of the spec hash. */
  baseDir?: string;
}

const EPS = {
  anyOf: [{ type: 'number' }, { type: 'string', minLength: 1, maxLength: 40 }],
  description: 'ε: a number or a fraction like 8/255',
};
const INT = (min: number, max = 1e9) => ({ type: 'integer', minimum: min, maximum: max });

/** The JSON Schema of a campaign spec file (before ε strings are parsed). */
export const CAMPAIGN_SCHEMA = {
  $id: 'medshield.campaign-spec/1',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'models', 'data'],
  properties: {
    name: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      description: 'campaign name (letters, digits, . _ -)',
    },
    seed: { ...INT(0, 2 ** 32 - 1), default: 0 },
    models: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['ref'],
        properties: {
          ref: { type: 'string', minLength: 1 },
          name: { type: 'string', minLength: 1, maxLength: 64 },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        },
      },
    },
    data: {
      type: 'object',
      additionalProperties: false,
      required: ['dataset'],
      properties: {
        dataset: { type: 'string', minLength: 1 },
        split: { type: 'string', enum: ['train', 'val', 'test'], default: 'test' },
        limit: INT(1),
      },
    },
    attacks: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['attack', 'eps'],
        properties: {
          attack: { type: 'string', minLength: 1 },
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
          eps: { type: 'array', minItems: 1, maxItems: 64, items: EPS },
          norm: { type: 'string', enum: ['linf', 'l2', 'l1', 'l0'] },
          steps: INT(1, 1e6),
          stepSize: EPS,
          restarts: INT(1, 1000),
          loss: { type: 'string', enum: ['ce', 'cw', 'dlr'] },
          maxQueries: INT(1),
          pInit: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
          randomStart: { type: 'boolean' },
        },
      },
    },
    detectors: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['detector', 'eps'],
        properties: {
          detector: { type: 'string', minLength: 1 },
          trainAttack: { type: 'string', default: 'pgd' },
          testAttacks: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          eps: { type: 'array', minItems: 1, maxItems: 64, items: EPS },
          fitLimit: INT(2),
          fitSplit: { type: 'string', enum: ['train', 'val'], default: 'train' },
          steps: INT(1, 1e6),
        },
      },
    },
    shardSize: { ...INT(1, 1e7), default: 64 },
    batchSize: { ...INT(1, 65536), default: 128 },
  },
} as const;

const ajv = new Ajv({ useDefaults: true, allErrors: false, strict: false });
const validate = ajv.compile(CAMPAIGN_SCHEMA);

function epsValue(v: unknown, where: string, label: string): EpsValue {
  const text = typeof v === 'number' ? String(v) : String(v).trim();
  try {
    return { value: parseEpsilon(text), text };
  } catch (e) {
    throw badInput(`${where}: ${label} ${oneLine(e)}`);
  }
}

/** Validate a parsed spec object (YAML/JSON) into a CampaignSpec; throws BAD_INPUT naming the field. */
export function validateCampaignSpec(raw: unknown, where = 'campaign spec'): CampaignSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw badInput(`${where}: must be a mapping (name, models, data, attacks, …)`);
  const s = structuredClone(raw) as Record<string, unknown>;
  if (!validate(s)) {
    const e = validate.errors![0];
    const at = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
    const extra =
      e.keyword === 'additionalProperties'
        ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'`
        : e.keyword === 'enum'
          ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`
          : '';
    throw badInput(`${where}: ${at} ${e.message}${extra}`);
  }
  type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = s as Raw;
  const models: ModelEntry[] = (r.models as Raw[]).map((m) => ({
    ref: m.ref,
    name: m.name ?? m.ref,
    ...(m.sha256 ? { sha256: m.sha256 } : {}),
  }));
  const dup = (xs: string[]): string | undefined => xs.find((x, i) => xs.indexOf(x) !== i);
  const dm = dup(models.map((m) => m.name));
  if (dm) throw badInput(`${where}: models: '${dm}' appears twice (give one of them a distinct name:)`);
  const attacks: AttackEntry[] = (r.attacks as Raw[]).map((a, i) => {
    const at = `attacks.${i}`;
    let atk;
    try {
      atk = getAttack(a.attack);
    } catch (e) {
      throw badInput(`${where}: ${at}.attack: ${oneLine(e)}`);
    }
    if (a.norm && !atk.norms.includes(a.norm))
      throw badInput(
        `${where}: ${at}.norm: attack '${atk.name}' does not support the ${a.norm} norm (choose ${atk.norms.join(', ')})`,
      );
    if (atk.name === 'transfer')
      throw badInput(`${where}: ${at}.attack: 'transfer' needs surrogate models, which campaigns do not take yet`);
    const eps = (a.eps as unknown[]).map((v, j) => epsValue(v, where, `${at}.eps.${j}`));
    const de = dup(eps.map((e) => String(e.value)));
    if (de) throw badInput(`${where}: ${at}.eps lists ε = ${de} twice`);
    return {
      attack: atk.name,
      name: a.name ?? atk.name,
      eps,
      ...(a.norm ? { norm: a.norm } : {}),
      ...(a.steps ? { steps: a.steps } : {}),
      ...(a.stepSize !== undefined ? { stepSize: epsValue(a.stepSize, where, `${at}.stepSize`) } : {}),
      ...(a.restarts ? { restarts: a.restarts } : {}),
      ...(a.loss ? { loss: a.loss } : {}),
      ...(a.maxQueries ? { maxQueries: a.maxQueries } : {}),
      ...(a.pInit !== undefined ? { pInit: a.pInit } : {}),
      ...(a.randomStart !== undefined ? { randomStart: a.randomStart } : {}),
    };
  });
  const da = dup(attacks.map((a) => a.name));
  if (da) throw badInput(`${where}: attacks: '${da}' appears twice (give one of them a distinct name:)`);
  const whitebox = (name: string, at: string): string => {
    let atk;
    try {
      atk = getAttack(name);
    } catch (e) {
      throw badInput(`${where}: ${at}: ${oneLine(e)}`);
    }
    if (atk.threatModel !== 'whitebox')
      throw badInput(
        `${where}: ${at}: detectors are fitted on white-box attacks; '${atk.name}' is a ${atk.threatModel} attack`,
      );
    return atk.name;
  };
  const limit: number | undefined = r.data.limit;
  const detectors: DetectorEntry[] = (r.detectors as Raw[]).map((d, i) => {
    const at = `detectors.${i}`;
    let name: string;
    try {
      name = createDetector(d.detector).name;
    } catch (e) {
      throw badInput(`${where}: ${at}.detector: ${oneLine(e)}`);
    }
    const trainAttack = whitebox(d.trainAttack, `${at}.trainAttack`);
    const testAttacks = ((d.testAttacks as string[] | undefined) ?? [trainAttack]).map((t, j) =>
      whitebox(t, `${at}.testAttacks.${j}`),
    );
    const eps = (d.eps as unknown[]).map((v, j) => epsValue(v, where, `${at}.eps.${j}`));
    for (const e of eps)
      if (e.value > 1) throw badInput(`${where}: ${at}.eps: detectors use L∞ budgets ≤ 1, got ${e.text}`);
    return {
      detector: name,
      trainAttack,
      testAttacks,
      eps,
      fitLimit: d.fitLimit ?? limit ?? 300,
      fitSplit: d.fitSplit,
      ...(d.steps ? { steps: d.steps } : {}),
    };
  });
  const dd = dup(detectors.map((d) => `${d.detector}/${d.trainAttack}`));
  if (dd) throw badInput(`${where}: detectors: '${dd}' appears twice`);
  if (!attacks.length && !detectors.length)
    throw badInput(`${where}: give at least one entry under attacks: or detectors:`);
  return {
    name: r.name,
    seed: r.seed,
    models,
    data: { dataset: r.data.dataset, split: r.data.split, ...(limit ? { limit } : {}) },
    attacks,
    detectors,
    shardSize: r.shardSize,
    batchSize: r.batchSize,
  };
}

/** Parse YAML or JSON text (JSON is YAML; a `.json` file is parsed strictly as JSON). */
export function parseCampaignSpec(text: string, where = 'campaign spec', json = false): CampaignSpec {
  let raw: unknown;
  try {
    raw = json ? JSON.parse(text) : parseYaml(text, { prettyErrors: false });
  } catch (e) {
    throw badInput(`${where}: not valid ${json ? 'JSON' : 'YAML'} (${oneLine(e)})`);
  }
  return validateCampaignSpec(raw, where);
}

/** Read and validate a spec file (.yaml, .yml or .json). Model directories are resolved against the file's folder. */
export async function loadCampaignSpec(file: string): Promise<CampaignSpec> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw badInput(
      `cannot read campaign spec '${file}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : oneLine(e)}`,
    );
  }
  const spec = parseCampaignSpec(text, `campaign spec ${path.basename(file)}`, file.toLowerCase().endsWith('.json'));
  return { ...spec, baseDir: path.dirname(path.resolve(file)) };
}

/** Where a model ref points: a relative path against the spec's folder; shipped names and absolute paths stay. */
export function resolveModelRef(ref: string, baseDir?: string): string {
  const isPath = ref.startsWith('.') || ref.includes('/') || ref.includes(path.sep);
  return isPath && !path.isAbsolute(ref) && baseDir ? path.resolve(baseDir, ref) : ref;
}

/** Canonical JSON: keys sorted at every level (the spec hash is over this). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** sha256 of the canonical JSON of the validated spec. */
export function specHash(spec: CampaignSpec): string {
  const { baseDir: _b, ...rest } = spec;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** The campaign id: name + '-' + the first 12 hex of the spec hash (the same spec resumes the same campaign). */
export function campaignId(spec: CampaignSpec): string {
  return `${spec.name}-${specHash(spec).slice(0, 12)}`;
}
