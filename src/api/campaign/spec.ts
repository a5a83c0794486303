/**
 * Campaign specs (issue 22, item 2): one YAML or JSON file declaring the models (local, or HTTP
 * endpoints for black-box attacks), the data sample, the attacks × ε (transfer with its surrogates),
 * the defences (non-adaptive, as `medshield defend`), the detectors and the scorecard rows (adaptive
 * attacker and verdict, as `medshield scorecard`) of an evaluation. Validated by one JSON Schema (ajv), then by the
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
import { DEFENCE_NAMES, getDefence } from '../../defences/registry.js';
import { scorecardDefences } from '../scorecard.js';

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
  /** HTTP endpoints (`ref` is an http(s) URL): the client's settings; black-box attacks only. */
  target?: ModelTargetOptions;
}

/**
 * How a campaign queries an HTTP model (`medshield attack --target-url` options; the API key comes from the
 * environment).
 */
export interface ModelTargetOptions {
  output?: 'probabilities' | 'label' | 'auto';
  format?: 'json' | 'png';
  concurrency?: number;
  paceMs?: number;
  retries?: number;
  timeoutMs?: number;
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
  /** transfer: surrogate model refs (an ensemble averages their logits) and the white-box attack run on them. */
  surrogates?: string[];
  baseAttack?: string;
  /** Only these models (by name); default all. */
  models?: string[];
}

/**
 * A defence (non-adaptive, as `medshield defend`): white-box attacks crafted on the undefended model, their
 * images classified by the defended model.
 */
export interface DefenceEntry {
  /** Canonical defence spec (`jpeg:q=75`, `bitdepth:bits=4+median:k=3`). */
  defence: string;
  /** Label in results (default: the canonical spec); must be unique. */
  name: string;
  attacks: string[];
  eps: EpsValue[];
  steps?: number;
  norm?: 'linf' | 'l2' | 'l1' | 'l0';
  models?: string[];
}

/** Scorecard rows (as `medshield scorecard`): each row × ε × model is one job, with its verdict. */
export interface ScorecardEntry {
  /** Defence specs, detector names, `adversarial-training` (expanded from 'all'). */
  defences: string[];
  eps: EpsValue[];
  quick: boolean;
  fitLimit?: number;
  steps?: number;
  eotSamples?: number;
  advModel?: string;
  noiseModel?: string;
  models?: string[];
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
  models?: string[];
}

export interface CampaignSpec {
  name: string;
  seed: number;
  models: ModelEntry[];
  data: { dataset: string; split: 'train' | 'val' | 'test'; limit?: number };
  attacks: AttackEntry[];
  detectors: DetectorEntry[];
  /** Absent when the spec declares none (so older specs keep their hash and id). */
  defences?: DefenceEntry[];
  scorecard?: ScorecardEntry;
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
const MODELS = { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, description: 'model names' };
/** Fields of detector and defence entries: the ε list, the attack iterations, the models it applies to. */
const EPS_STEPS_MODELS = {
  eps: { type: 'array', minItems: 1, maxItems: 64, items: EPS },
  steps: INT(1, 1e6),
  models: MODELS,
} as const;

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
          target: {
            type: 'object',
            additionalProperties: false,
            properties: {
              output: { type: 'string', enum: ['probabilities', 'label', 'auto'] },
              format: { type: 'string', enum: ['json', 'png'] },
              concurrency: INT(1, 256),
              paceMs: INT(0, 600_000),
              retries: INT(0, 100),
              timeoutMs: INT(1, 3_600_000),
            },
          },
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
          surrogates: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', minLength: 1 } },
          baseAttack: { type: 'string', minLength: 1 },
          models: MODELS,
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
          fitLimit: INT(2),
          fitSplit: { type: 'string', enum: ['train', 'val'], default: 'train' },
          ...EPS_STEPS_MODELS,
        },
      },
    },
    defences: {
      type: 'array',
      items: {
        type: 'object',
        // the defence's own parameters (jpeg: q, median: k, …) sit beside these keys; the registry checks them
        additionalProperties: { type: 'number' },
        required: ['defence', 'eps'],
        properties: {
          defence: { type: 'string', minLength: 1 },
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9.:=+,_-]{0,63}$' },
          attacks: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          norm: { type: 'string', enum: ['linf', 'l2', 'l1', 'l0'] },
          ...EPS_STEPS_MODELS,
        },
      },
    },
    scorecard: {
      type: 'object',
      additionalProperties: false,
      required: ['eps'],
      properties: {
        defences: {
          anyOf: [
            { type: 'string', minLength: 1 },
            { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          ],
        },
        eps: { type: 'array', minItems: 1, maxItems: 16, items: EPS },
        quick: { type: 'boolean', default: false },
        fitLimit: INT(10, 1e7),
        steps: INT(1, 1e5),
        eotSamples: INT(1, 1000),
        advModel: { type: 'string', minLength: 1 },
        noiseModel: { type: 'string', minLength: 1 },
        models: MODELS,
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
  // biome-ignore lint/suspicious/noExplicitAny: the validated spec, read field by field below
  type Raw = Record<string, any>;
  const r = s as Raw;
  const models: ModelEntry[] = (r.models as Raw[]).map((m, i) => {
    const http = isHttpRef(m.ref);
    if (http) {
      let u: URL;
      try {
        u = new URL(m.ref);
      } catch {
        throw badInput(`${where}: models.${i}.ref is not a valid URL: '${m.ref}'`);
      }
      if (u.username || u.password)
        throw badInput(
          `${where}: models.${i}.ref: put no credentials in the URL (the API key comes from MEDSHIELD_TARGET_API_KEY)`,
        );
      if (m.sha256)
        throw badInput(`${where}: models.${i}.sha256: an HTTP endpoint has no weights to check (remove sha256)`);
    } else if (m.target) throw badInput(`${where}: models.${i}.target applies to HTTP endpoints (an http(s):// ref)`);
    return {
      ref: m.ref,
      name: m.name ?? (http ? `http-${i}` : m.ref),
      ...(m.sha256 ? { sha256: m.sha256 } : {}),
      ...(http && m.target ? { target: m.target } : {}),
    };
  });
  const dup = (xs: string[]): string | undefined => xs.find((x, i) => xs.indexOf(x) !== i);
  const dm = dup(models.map((m) => m.name));
  if (dm) throw badInput(`${where}: models: '${dm}' appears twice (give one of them a distinct name:)`);
  const modelNames = models.map((m) => m.name);
  /** The models an entry applies to (its `models:` list, checked; default all). */
  const appliesTo = (list: string[] | undefined, at: string): ModelEntry[] => {
    for (const n of list ?? [])
      if (!modelNames.includes(n))
        throw badInput(`${where}: ${at}.models: no model named '${n}' (models: ${modelNames.join(', ')})`);
    return list ? models.filter((m) => list.includes(m.name)) : models;
  };
  const notHttp = (list: string[] | undefined, at: string, what: string): void => {
    const m = appliesTo(list, at).find((x) => isHttpRef(x.ref));
    if (m)
      throw badInput(
        `${where}: ${at}: ${what} need the model's weights; '${m.name}' is an HTTP endpoint ` +
          `(give the entry a models: list without it)`,
      );
  };
  const attacks: AttackEntry[] = (r.attacks as Raw[]).map((a, i) => {
    const at = `attacks.${i}`;
    let atk: ReturnType<typeof getAttack>;
    try {
      atk = getAttack(a.attack);
    } catch (e) {
      throw badInput(`${where}: ${at}.attack: ${oneLine(e)}`);
    }
    if (a.norm && !atk.norms.includes(a.norm))
      throw badInput(
        `${where}: ${at}.norm: attack '${atk.name}' does not support the ${a.norm} norm ` +
          `(choose ${atk.norms.join(', ')})`,
      );
    if (atk.name === 'transfer' && !a.surrogates)
      throw badInput(
        `${where}: ${at}.surrogates: 'transfer' needs surrogate models ` +
          '(refs of models trained independently of the target)',
      );
    if (atk.name !== 'transfer' && (a.surrogates || a.baseAttack))
      throw badInput(`${where}: ${at}: surrogates and baseAttack are options of the transfer attack`);
    if (a.baseAttack) {
      let base: ReturnType<typeof getAttack>;
      try {
        base = getAttack(a.baseAttack);
      } catch (e) {
        throw badInput(`${where}: ${at}.baseAttack: ${oneLine(e)}`);
      }
      if (base.threatModel !== 'whitebox')
        throw badInput(`${where}: ${at}.baseAttack must be a white-box attack, got '${base.name}'`);
      a.baseAttack = base.name;
    }
    for (const [j, sref] of ((a.surrogates as string[] | undefined) ?? []).entries())
      if (isHttpRef(sref)) throw badInput(`${where}: ${at}.surrogates.${j}: a surrogate needs weights, not a URL`);
    if (atk.threatModel === 'whitebox') notHttp(a.models, at, `white-box attacks ('${atk.name}')`);
    else appliesTo(a.models, at);
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
      ...(a.surrogates ? { surrogates: a.surrogates } : {}),
      ...(a.baseAttack ? { baseAttack: a.baseAttack } : {}),
      ...(a.models ? { models: a.models } : {}),
    };
  });
  const da = dup(attacks.map((a) => a.name));
  if (da) throw badInput(`${where}: attacks: '${da}' appears twice (give one of them a distinct name:)`);
  const whitebox = (name: string, at: string, what = 'detectors are fitted on'): string => {
    let atk: ReturnType<typeof getAttack>;
    try {
      atk = getAttack(name);
    } catch (e) {
      throw badInput(`${where}: ${at}: ${oneLine(e)}`);
    }
    if (atk.threatModel !== 'whitebox')
      throw badInput(`${where}: ${at}: ${what} white-box attacks; '${atk.name}' is a ${atk.threatModel} attack`);
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
    notHttp(d.models, at, 'detectors');
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
      ...(d.models ? { models: d.models } : {}),
    };
  });
  const dd = dup(detectors.map((d) => `${d.detector}/${d.trainAttack}`));
  if (dd) throw badInput(`${where}: detectors: '${dd}' appears twice`);
  const defences = ((r.defences as Raw[] | undefined) ?? []).map((d, i) => defenceEntry(d, where, `defences.${i}`));
  for (const [i, d] of defences.entries()) {
    const at = `defences.${i}`;
    notHttp(d.models, at, 'defences');
    d.attacks = d.attacks.map((a, j) => whitebox(a, `${at}.attacks.${j}`, 'defences are evaluated against'));
    d.eps.forEach((e, j) => {
      if (d.eps.findIndex((x) => x.value === e.value) !== j)
        throw badInput(`${where}: ${at}.eps lists ε = ${e.value} twice`);
    });
    if (d.norm)
      for (const a of d.attacks)
        if (!getAttack(a).norms.includes(d.norm))
          throw badInput(`${where}: ${at}.norm: attack '${a}' does not support the ${d.norm} norm`);
  }
  const df = dup(defences.map((d) => d.name));
  if (df) throw badInput(`${where}: defences: '${df}' appears twice (give one of them a distinct name:)`);
  let scorecard: ScorecardEntry | undefined;
  if (r.scorecard) {
    const sc = r.scorecard as Raw;
    notHttp(sc.models, 'scorecard', 'scorecard rows');
    let rows: string[];
    try {
      rows = scorecardDefences({ defences: sc.defences ?? 'all' });
    } catch (e) {
      throw badInput(`${where}: scorecard.defences: ${oneLine(e)}`);
    }
    const eps = (sc.eps as unknown[]).map((v, j) => epsValue(v, where, `scorecard.eps.${j}`));
    for (const e of eps)
      if (e.value > 1) throw badInput(`${where}: scorecard.eps: the scorecard uses L∞ budgets ≤ 1, got ${e.text}`);
    for (const k of ['advModel', 'noiseModel'])
      if (sc[k] && isHttpRef(sc[k]))
        throw badInput(`${where}: scorecard.${k}: a helper model needs weights, not a URL`);
    scorecard = {
      defences: rows,
      eps,
      quick: !!sc.quick,
      ...(sc.fitLimit ? { fitLimit: sc.fitLimit } : {}),
      ...(sc.steps ? { steps: sc.steps } : {}),
      ...(sc.eotSamples ? { eotSamples: sc.eotSamples } : {}),
      ...(sc.advModel ? { advModel: sc.advModel } : {}),
      ...(sc.noiseModel ? { noiseModel: sc.noiseModel } : {}),
      ...(sc.models ? { models: sc.models } : {}),
    };
  }
  if (!attacks.length && !detectors.length && !defences.length && !scorecard)
    throw badInput(`${where}: give at least one entry under attacks:, defences:, detectors: or scorecard:`);
  return {
    name: r.name,
    seed: r.seed,
    models,
    data: { dataset: r.data.dataset, split: r.data.split, ...(limit ? { limit } : {}) },
    attacks,
    detectors,
    ...(defences.length ? { defences } : {}),
    ...(scorecard ? { scorecard } : {}),
    shardSize: r.shardSize,
    batchSize: r.batchSize,
  };
}

/** True for a model ref that is an HTTP endpoint. */
export const isHttpRef = (ref: string): boolean => /^https?:\/\//i.test(ref);

/** Parameter names accepted for a defence besides the registry's own (as people write them). */
const PARAM_ALIASES: Record<string, Record<string, string>> = { jpeg: { quality: 'q' } };

/**
 * One `defences:` entry → its canonical spec: `{ defence: jpeg, q: 75 }` (parameters beside the name; jpeg also
 * takes `quality`) or `{ defence: "jpeg:q=75" }` / a chain `"bitdepth:bits=4+median:k=3"`, checked by the registry.
 */
function defenceEntry(d: Record<string, unknown>, where: string, at: string): DefenceEntry {
  const { defence, name, attacks, eps, steps, norm, models, ...params } = d;
  const base = String(defence).trim().toLowerCase();
  const keys = Object.keys(params);
  if (keys.length && /[:+]/.test(base))
    throw badInput(`${where}: ${at}: give the parameters either in the spec text ('${base}') or as fields, not both`);
  let text = base;
  if (keys.length) {
    const alias = PARAM_ALIASES[base] ?? {};
    text = `${base}:${keys.map((k) => `${alias[k] ?? k}=${params[k]}`).join(',')}`;
  }
  let canonical: string;
  try {
    canonical = getDefence(text).spec;
  } catch (e) {
    throw badInput(`${where}: ${at}.defence: ${oneLine(e)} (defences: ${DEFENCE_NAMES().join(', ')})`);
  }
  return {
    defence: canonical,
    name: (name as string | undefined) ?? canonical,
    attacks: (attacks as string[] | undefined) ?? ['pgd'],
    eps: (eps as unknown[]).map((v, j) => epsValue(v, where, `${at}.eps.${j}`)),
    ...(steps ? { steps: steps as number } : {}),
    ...(norm ? { norm: norm as DefenceEntry['norm'] } : {}),
    ...(models ? { models: models as string[] } : {}),
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
      `cannot read campaign spec '${file}': ` +
        `${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : oneLine(e)}`,
    );
  }
  const spec = parseCampaignSpec(text, `campaign spec ${path.basename(file)}`, file.toLowerCase().endsWith('.json'));
  return { ...spec, baseDir: path.dirname(path.resolve(file)) };
}

/** Where a model ref points: a relative path against the spec's folder; shipped names and absolute paths stay. */
export function resolveModelRef(ref: string, baseDir?: string): string {
  if (isHttpRef(ref)) return ref;
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
