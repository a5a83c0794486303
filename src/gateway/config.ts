/**
 * The gateway configuration (`gateway.yaml`): one JSON Schema (draft-07, checked with ajv) that states
 * every field, its meaning and its default. `loadGatewayConfig` reads YAML or JSON, fills defaults,
 * rejects unknown fields with a one-line message, and resolves relative paths against the config's
 * own folder (so a config directory can be moved as a whole).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import { badInput, oneLine } from '../errors.js';
import { getDefence } from '../defences/registry.js';
import { SHIPPED_MODELS } from '../models/io.js';
import { defaultCheckpoint } from './audit/checkpoint.js';

export type OutputMode = 'label' | 'top1' | 'probs';
export type QueryAction = 'flag' | 'slow' | 'block';
export type InputType = 'application/dicom' | 'image/png' | 'image/jpeg';
export type DetectorAction = 'flag' | 'reject';
export interface InputDetectorConfig {
  dir: string;
  threshold: number;
  action: DetectorAction;
}

export interface GatewayConfig {
  model: string;
  listen: { host: string; port: number };
  tls: { cert: string | null; key: string | null; clientCa: string | null; requireClientCert: boolean };
  signature: {
    required: boolean;
    trustedCas: string[];
    intermediates: string[];
    requireProfile: 'base' | 'creator' | 'authorization' | null;
    requirePixelCoverage: boolean;
    workers: number;
  };
  inputs: { contentTypes: InputType[]; bodyLimitBytes: number; maxPixels: number };
  auth: { keysFile: string };
  rateLimit: {
    perKey: { max: number; windowMs: number };
    perIp: { max: number; windowMs: number };
    authFailures: { max: number; windowMs: number };
  };
  output: { mode: OutputMode; decimals: number };
  defences: string[];
  detectors: InputDetectorConfig[];
  queryDetection: {
    enabled: boolean;
    action: QueryAction;
    quantStep: number;
    windowSize: number;
    topK: number;
    matchThreshold: number;
    history: number;
    alertFraction: number;
    alertWindow: number;
    slowMs: number;
    blockSeconds: number;
  };
  audit: {
    url: string;
    signEvery: number;
    signIntervalSeconds: number;
    signingKey: string | null;
    signingCert: string | null;
    checkpoint: string | null;
  };
  timeouts: { requestMs: number; headersMs: number; keepAliveMs: number; inferenceMs: number; shutdownMs: number };
  logging: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent'; serverTiming: boolean };
}

const str = (description: string, dflt: string | null, nullable = false) => ({
  type: nullable ? ['string', 'null'] : 'string',
  description,
  default: dflt,
});
const int = (description: string, dflt: number, minimum = 0, maximum?: number) => ({
  type: 'integer',
  description,
  default: dflt,
  minimum,
  ...(maximum !== undefined ? { maximum } : {}),
});
const bool = (description: string, dflt: boolean) => ({ type: 'boolean', description, default: dflt });
const obj = (description: string, properties: Record<string, unknown>) => ({
  type: 'object',
  description,
  additionalProperties: false,
  default: {},
  properties,
});

/** The schema of gateway.yaml; `description` and `default` on every field (docs/gateway.md renders it). */
export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'medshield gateway configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    model: str(
      "model directory (medshield or ONNX), 'default' for the shipped ResNet-18, or another shipped model's name",
      'default',
    ),
    listen: obj('where the server listens', {
      host: str('address to bind (use 0.0.0.0 behind a firewall/TLS only)', '127.0.0.1'),
      port: int('TCP port (0 = any free port); `serve --port` overrides it', 8443, 0, 65535),
    }),
    tls: obj(
      'HTTPS and mutual TLS; without cert/key the server speaks plain HTTP (loopback or behind a TLS proxy only)',
      {
        cert: str('server certificate chain (PEM)', null, true),
        key: str('server private key (PEM)', null, true),
        clientCa: str('CA certificate(s) (PEM) that issue client certificates; enables mTLS', null, true),
        requireClientCert: bool('reject callers without a client certificate issued by clientCa (401, audited)', false),
      },
    ),
    signature: obj('image signature policy (DICOM PS3.15 digital signatures), checked before the model sees anything', {
      required: bool('only signed images whose signatures verify are served; others get 422', true),
      trustedCas: {
        type: 'array',
        items: { type: 'string' },
        description: 'trusted CA certificates (PEM files) for image signers',
        default: [],
      },
      intermediates: {
        type: 'array',
        items: { type: 'string' },
        description: 'untrusted intermediate CA certificates (PEM files)',
        default: [],
      },
      requireProfile: {
        type: ['string', 'null'],
        enum: ['base', 'creator', 'authorization', null],
        description: 'PS3.15 signature profile the main data set signature must meet',
        default: null,
      },
      requirePixelCoverage: bool('a valid signature must cover Pixel Data (7FE0,0010)', true),
      workers: int('worker threads that verify signatures (0 = on the main thread)', 1, 0, 64),
    }),
    inputs: obj('accepted request bodies', {
      contentTypes: {
        type: 'array',
        items: { type: 'string', enum: ['application/dicom', 'image/png', 'image/jpeg'] },
        uniqueItems: true,
        minItems: 1,
        description:
          'accepted Content-Types; PNG/JPEG carry no DICOM signature, ' +
          'so they are served only when signature.required is false',
        default: ['application/dicom'],
      },
      bodyLimitBytes: int('largest accepted body (413 above)', 8 * 1024 * 1024, 1024),
      maxPixels: int(
        'largest declared image, width × height × frames, checked from the header before decoding (413 above)',
        64 * 1024 * 1024,
        1,
      ),
    }),
    auth: obj('API keys (Authorization: Bearer <key>)', {
      keysFile: str('JSON file of API keys, stored as scrypt hashes (managed by `medshield gateway key`)', 'keys.json'),
    }),
    rateLimit: obj('request rate limits (429 above)', {
      perKey: obj('per API key', {
        max: int('requests per window', 600, 1),
        windowMs: int('window length in ms', 60000, 1),
      }),
      perIp: obj('per client address', {
        max: int('requests per window', 1200, 1),
        windowMs: int('window length in ms', 60000, 1),
      }),
      authFailures: obj('failed authentications per client address: above max, 429 before any key is hashed', {
        max: int('failures per window', 20, 1),
        windowMs: int('window length in ms', 60000, 1),
      }),
    }),
    output: obj('what a caller learns about the model (less output, harder score-based attacks)', {
      mode: {
        type: 'string',
        enum: ['label', 'top1', 'probs'],
        description: 'label only; top-1 class with its confidence rounded; or all class probabilities rounded',
        default: 'top1',
      },
      decimals: int('decimals of reported confidences', 2, 0, 8),
    }),
    defences: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description:
        "input defences (specs as for `medshield defend`, e.g. 'jpeg:q=75', " +
        "'bitdepth:bits=4+median:k=3') applied, in order, to every image before the model",
      default: [],
    },
    detectors: {
      type: 'array',
      default: [],
      description:
        'adversarial-input detectors saved by `medshield detect --save DIR`, each { dir (relative to the ' +
        'config file), threshold (score above it = suspicious; `detect --json` prints the 5 %-FPR one), ' +
        "action: flag | reject }; they score the undefended image; 'reject' answers " +
        "422, 'flag' adds {detector, score} to the answer's flags; always " +
        'audited. A detector fitted on another model stops the gateway at start-up',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['dir', 'threshold'],
        properties: {
          dir: {
            type: 'string',
            minLength: 1,
            description: 'folder written by `medshield detect --save` (or its detector.json)',
          },
          threshold: { type: 'number', description: 'score above it = suspicious' },
          action: {
            type: 'string',
            enum: ['flag', 'reject'],
            default: 'flag',
            description: "'reject' = 422 without a prediction; 'flag' = answer with the flag",
          },
        },
      },
    },
    queryDetection: obj('stateful query-attack detection per caller (Blacklight, Li et al. 2022)', {
      enabled: bool('fingerprint every query and watch for near-duplicate streams', true),
      action: {
        type: 'string',
        enum: ['flag', 'slow', 'block'],
        description: 'what happens to a caller under detected attack (always audited)',
        default: 'flag',
      },
      quantStep: int('pixel quantisation step on the 0–255 scale before hashing', 50, 1, 255),
      windowSize: int('pixels per hashed sliding window (row-major flattened input)', 20, 1),
      topK: int('hashes kept per query (the largest)', 50, 1),
      matchThreshold: int('shared hashes that make two queries near-duplicates', 25, 1),
      history: int('recent queries remembered per caller', 1000, 1),
      alertFraction: {
        type: 'number',
        minimum: 0,
        maximum: 1,
        description:
          "fraction of a caller's last alertWindow queries that must " +
          'match an earlier query for the caller to be under attack',
        default: 0.5,
      },
      alertWindow: int('recent queries of a caller over which alertFraction is measured', 10, 1),
      slowMs: int("delay added per request for 'slow'", 2000, 0),
      blockSeconds: int("how long 'block' refuses a caller (429)", 3600, 0),
    }),
    audit: obj('tamper-evident audit log', {
      url: str("'sqlite:PATH' (relative to the config file) or 'postgres://user@host/db'", 'sqlite:audit.db'),
      signEvery: int('sign the chain head after this many records', 100, 1),
      signIntervalSeconds: int('and at least this often while records arrive', 60, 1),
      signingKey: str('gateway private key (PEM) that signs the chain head', null, true),
      signingCert: str('its certificate (PEM), used by `audit verify`', null, true),
      checkpoint: str(
        'file naming the newest signed record, signed by the gateway (truncation check of `audit verify`); ' +
          "null = '<sqlite file>.checkpoint', or 'audit-checkpoint.json' beside the config for PostgreSQL",
        null,
        true,
      ),
    }),
    timeouts: obj('timeouts against slow clients (slow-loris) and stuck work', {
      requestMs: int('whole request must arrive within this (408 / connection closed)', 10000, 100),
      headersMs: int('headers must arrive within this', 5000, 100),
      keepAliveMs: int('idle keep-alive connections close after this', 5000, 100),
      inferenceMs: int('decode + verify + inference budget per request (503 above)', 10000, 10),
      shutdownMs: int('graceful shutdown: finish in-flight requests within this', 10000, 0),
    }),
    logging: obj('structured logs (pino, JSON lines on stderr); never contain image data or keys', {
      level: {
        type: 'string',
        enum: ['fatal', 'error', 'warn', 'info', 'debug', 'silent'],
        description: 'log level',
        default: 'info',
      },
      serverTiming: bool(
        "send each answer's stage times (auth, receive, hash, parse, verify, decode, screen, queue, model, " +
          'answer, audit) in a Server-Timing header — for benchmarks; it tells callers how long verification took',
        false,
      ),
    }),
  },
} as const;

const ajv = new Ajv({ useDefaults: true, allErrors: false, strict: false });
const validate = ajv.compile(CONFIG_SCHEMA);

/** Fill defaults and check a parsed config object; throws BAD_INPUT naming the first problem. */
export function validateGatewayConfig(raw: unknown, where = 'gateway config'): GatewayConfig {
  const cfg = structuredClone(raw ?? {}) as Record<string, unknown>;
  if (typeof cfg !== 'object' || Array.isArray(cfg)) throw badInput(`${where}: must be a mapping`);
  if (!validate(cfg)) {
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
  const c = cfg as unknown as GatewayConfig;
  if (!!c.tls.cert !== !!c.tls.key) throw badInput(`${where}: tls.cert and tls.key go together`);
  if (c.tls.requireClientCert && !c.tls.clientCa) throw badInput(`${where}: tls.requireClientCert needs tls.clientCa`);
  if (!!c.audit.signingKey !== !!c.audit.signingCert)
    throw badInput(`${where}: audit.signingKey and audit.signingCert go together`);
  if (c.signature.required && !c.signature.trustedCas.length)
    throw badInput(`${where}: signature.required needs at least one signature.trustedCas entry`);
  c.defences.forEach((spec, i) => {
    try {
      getDefence(spec);
    } catch (e) {
      throw badInput(`${where}: defences.${i} '${spec}': ${oneLine(e)}`);
    }
  });
  c.detectors.forEach((d, i) => {
    if (!Number.isFinite(d.threshold)) throw badInput(`${where}: detectors.${i}.threshold must be a finite number`);
  });
  return c;
}

/** Resolve every path field against `dir`. */
export function resolveConfigPaths(c: GatewayConfig, dir: string): GatewayConfig {
  const r = (p: string | null): string | null => (p === null ? null : path.resolve(dir, p));
  return {
    ...c,
    model: (SHIPPED_MODELS as readonly string[]).includes(c.model) ? c.model : r(c.model)!,
    tls: { ...c.tls, cert: r(c.tls.cert), key: r(c.tls.key), clientCa: r(c.tls.clientCa) },
    signature: {
      ...c.signature,
      trustedCas: c.signature.trustedCas.map((p) => r(p)!),
      intermediates: c.signature.intermediates.map((p) => r(p)!),
    },
    auth: { keysFile: r(c.auth.keysFile)! },
    detectors: c.detectors.map((d) => ({ ...d, dir: r(d.dir)! })),
    audit: {
      ...c.audit,
      url: c.audit.url.startsWith('sqlite:') ? 'sqlite:' + r(c.audit.url.slice(7)) : c.audit.url,
      signingKey: r(c.audit.signingKey),
      signingCert: r(c.audit.signingCert),
      checkpoint:
        c.audit.checkpoint !== null
          ? r(c.audit.checkpoint)
          : c.audit.url.startsWith('postgres')
            ? defaultCheckpoint(c.audit.url, dir)
            : null,
    },
  };
}

/** The checkpoint file of a (resolved) audit config: the configured one, else beside the SQLite file. */
export function auditCheckpointFile(a: GatewayConfig['audit'], dir = process.cwd()): string {
  return a.checkpoint ?? defaultCheckpoint(a.url, dir);
}

/** Read gateway.yaml (or .json), validate, fill defaults, resolve paths. */
export function loadGatewayConfig(file: string): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw badInput(`cannot read gateway config '${file}'`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw badInput(`${file}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  return resolveConfigPaths(validateGatewayConfig(raw, file), path.dirname(path.resolve(file)));
}

/** Markdown table of every config field with its default and meaning (for docs/gateway.md). */
export function configReference(): string {
  const rows: string[] = ['| field | default | meaning |', '|---|---|---|'];
  const walk = (
    props: Record<
      string,
      { type?: unknown; properties?: Record<string, never>; default?: unknown; description?: string }
    >,
    prefix: string,
  ): void => {
    for (const [k, v] of Object.entries(props)) {
      const name = prefix + k;
      if (v.properties) {
        walk(v.properties, name + '.');
        continue;
      }
      rows.push(`| \`${name}\` | \`${JSON.stringify(v.default)}\` | ${v.description ?? ''} |`);
    }
  };
  walk(CONFIG_SCHEMA.properties as never, '');
  return rows.join('\n');
}
