/** JSON schemas of the dashboard API (validation of parameters, fast serialization, the OpenAPI document). */
const num = { type: 'number' } as const;
const numN = { type: 'number', nullable: true } as const;
const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
/** An array of objects with these properties. */
const rowsOf = <P extends Record<string, unknown>>(properties: P) =>
  ({ type: 'array', items: { type: 'object', properties } }) as const;

export const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;
const SHARDS = { type: 'object', properties: { total: int, done: int, failed: int } } as const;

export const CAMPAIGN_SUMMARY = {
  type: 'object',
  properties: { id: str, name: str, status: str, shards: SHARDS },
} as const;

export const CAMPAIGN_STATUS = {
  type: 'object',
  properties: {
    id: str,
    name: str,
    status: { type: 'string', enum: ['planned', 'running', 'done', 'failed'] },
    specHash: str,
    shards: SHARDS,
    seconds: num,
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          model: str,
          attack: str,
          eps: num,
          n: int,
          cleanAccuracy: num,
          robustAccuracy: num,
          attackSuccessRate: numN,
          epsText: str,
          algorithm: str,
          norm: str,
          meanLinf: numN,
          meanL2: numN,
          meanQueries: numN,
          shards: { type: 'object', properties: { done: int, total: int } },
        },
      },
    },
    detection: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          model: str,
          detector: str,
          attack: str,
          eps: num,
          auc: numN,
          tprAt5Fpr: numN,
          trainAttack: str,
          epsText: str,
          n: int,
          threshold: numN,
          fitN: int,
        },
      },
    },
    defences: rowsOf({
      model: str,
      defence: str,
      attack: str,
      eps: num,
      n: int,
      cleanAccuracy: num,
      robustAccuracy: num,
      undefendedCleanAccuracy: num,
      undefendedRobustAccuracy: num,
      epsText: str,
      spec: str,
      norm: str,
      adaptive: bool,
      shards: { type: 'object', properties: { done: int, total: int } },
    }),
    scorecard: rowsOf({
      model: str,
      defence: str,
      eps: num,
      epsText: str,
      n: int,
      verdict: str,
      cleanAccuracy: num,
      nonAdaptive: { type: 'object', properties: { attack: str, fooledAndUndetected: num } },
      adaptive: { type: 'object', properties: { attack: str, fooledAndUndetected: num } },
      gradientMasking: bool,
      sanity: str,
      baseline: { type: 'object', properties: { cleanAccuracy: num, robustAccuracy: num, attack: str } },
      quick: bool,
      seconds: num,
    }),
  },
} as const;

export const QUERY_CURVE = {
  type: 'object',
  properties: {
    rows: {
      type: 'array',
      items: { type: 'object', properties: { model: str, attack: str, eps: num, queries: num, accuracy: num } },
    },
  },
} as const;

export const MODEL = {
  type: 'object',
  properties: {
    name: str,
    sha256: { type: 'string', nullable: true },
    architecture: str,
    dataset: str,
    metrics: { type: 'object', nullable: true, additionalProperties: { type: 'object', additionalProperties: num } },
    source: { type: 'array', items: str },
    onnx: { type: 'boolean' },
    campaigns: { type: 'array', items: str },
    classes: { type: 'array', items: str },
    parameters: { type: 'integer', nullable: true },
    datasetSha256: { type: 'string', nullable: true },
    createdAt: { type: 'string', nullable: true },
    cardName: { type: 'string', nullable: true },
    training: { type: 'object', nullable: true, properties: { command: str, epochs: int, seed: int, seconds: num } },
  },
} as const;

const PRED = { type: 'object', properties: { pred: int, name: str, conf: num } } as const;
export const SAMPLE_PAGE = {
  type: 'object',
  properties: {
    total: int,
    offset: int,
    limit: int,
    rows: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          key: str,
          model: str,
          attack: str,
          eps: num,
          index: int,
          label: int,
          labelName: str,
          clean: PRED,
          adversarial: PRED,
          flipped: { type: 'boolean' },
          attacked: { type: 'boolean' },
          linf: numN,
          l2: numN,
          queries: { type: 'integer', nullable: true },
          amplification: numN,
        },
      },
    },
    facets: {
      type: 'object',
      properties: {
        models: { type: 'array', items: str },
        attacks: { type: 'array', items: str },
        eps: { type: 'array', items: num },
        classes: { type: 'array', items: { type: 'object', properties: { value: int, name: str } } },
      },
    },
  },
} as const;

export const SAMPLE_QUERY = {
  type: 'object',
  properties: {
    model: { type: 'string', maxLength: 200 },
    attack: { type: 'string', maxLength: 200 },
    eps: { type: 'string', maxLength: 30 },
    flipped: { type: 'string', enum: ['true', 'false', ''] },
    label: { type: 'string', maxLength: 10 },
    offset: { type: 'integer', minimum: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 200 },
  },
  additionalProperties: false,
} as const;

export const SCORECARD = {
  type: 'object',
  properties: {
    detection: CAMPAIGN_STATUS.properties.detection,
    roc: {
      type: 'array',
      items: { type: 'object', properties: { model: str, detector: str, attack: str, eps: num, fpr: num, tpr: num } },
    },
    defences: CAMPAIGN_STATUS.properties.defences,
    scorecard: CAMPAIGN_STATUS.properties.scorecard,
  },
} as const;

export const FAILURES = {
  type: 'array',
  items: { type: 'object', properties: { jobKey: str, error: str, attempts: int } },
} as const;
