/**
 * Every detector, one line each, keyed by the name typed on the command line; saving a fitted
 * detector to a directory (`detector.json`: the DetectorState, MagNet's autoencoder weights inline
 * as base64 float32) and loading it back for the model it was fitted on — another model (different
 * weights sha256) is refused with a one-line `mismatch` error.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { DifferentiableModel } from '../models/model.js';
import { badInput, mismatch, notFound, unsupported } from '../errors.js';
import { Registry, type JsonSchema, type RegistryEntry } from '../registry.js';
import type { Detector, DetectorState } from './types.js';
import { modelIdentity } from './common.js';
import { KdBu } from './kd-bu.js';
import { Lid } from './lid.js';
import { Mahalanobis } from './mahalanobis.js';
import { DeepFeatureRf } from './deepfeature-rf.js';
import { Squeeze } from './squeeze.js';
import { MagNet } from './magnet.js';

/** A detector entry: the registry shape plus `load` (a saved state back into a detector). */
export interface DetectorEntry extends RegistryEntry<Detector> {
  load(s: DetectorState): Detector;
}

const int = (min: number, description: string): JsonSchema => ({ type: 'integer', minimum: min, description });
const pos = (description: string): JsonSchema => ({ type: 'number', exclusiveMinimum: 0, description });
const object = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties,
  additionalProperties: false,
});

/**
 * Canonical names are kebab-case; a detector still reports (and saves) the name it always had
 * (`kd_bu`, `deepfeature_rf`: `describe.reportedAs`), which `detect --json`, saved detector.json files and
 * the scorecard rows carry — so old outputs and saves stay valid.
 */
export const detectorRegistry = new Registry<Detector, Record<string, unknown>, DetectorEntry>('detector', [
  {
    name: 'kd-bu',
    aliases: ['kd_bu'],
    create: (p) => new KdBu(p),
    load: (s) => KdBu.load(s),
    describe: {
      summary: 'kernel density of last-layer features + MC-dropout uncertainty, logistic regression',
      reference: new KdBu().reference,
      kind: 'detector',
      reportedAs: 'kd_bu',
    },
    schema: object({
      bandwidth: pos('KDE bandwidth (default: half the median feature distance)'),
      dropout: { type: 'number', minimum: 0, exclusiveMaximum: 1, description: 'MC-dropout rate' },
      passes: int(1, 'MC-dropout passes'),
      seed: { type: 'integer' },
      maxPerClass: int(1, 'training features kept per class'),
    }),
  },
  {
    name: 'lid',
    create: (p) => new Lid(p),
    load: (s) => Lid.load(s),
    describe: {
      summary: 'local intrinsic dimensionality of every feature layer, logistic regression',
      reference: new Lid().reference,
      kind: 'detector',
      reportedAs: 'lid',
    },
    schema: object({
      k: int(1, 'nearest neighbours'),
      batch: int(2, 'minibatch the neighbours come from'),
      logits: { type: 'boolean', description: 'include the logit layer' },
    }),
  },
  {
    name: 'mahalanobis',
    create: (p) => new Mahalanobis(p),
    load: (s) => Mahalanobis.load(s),
    describe: {
      summary: 'Mahalanobis distance to class Gaussians per layer with input pre-processing',
      reference: new Mahalanobis().reference,
      kind: 'detector',
      reportedAs: 'mahalanobis',
    },
    schema: object({
      noise: { type: 'number', minimum: 0, description: 'input pre-processing step (default: cross-validated)' },
      shrinkage: { type: 'number', minimum: 0, maximum: 1, description: 'covariance shrinkage' },
      layers: { type: 'array', items: { type: 'string' }, description: 'feature layers' },
    }),
  },
  {
    name: 'deepfeature-rf',
    aliases: ['deepfeature_rf'],
    create: (p) => new DeepFeatureRf(p),
    load: (s) => DeepFeatureRf.load(s),
    describe: {
      summary:
        'deep features (penultimate or every layer, cross-validated), PCA + random forest or logistic regression',
      reference: new DeepFeatureRf().reference,
      kind: 'detector',
      reportedAs: 'deepfeature_rf',
    },
    schema: object({
      components: int(1, 'PCA components'),
      trees: int(1, 'trees in the forest'),
      seed: { type: 'integer' },
      layers: { type: 'array', items: { type: 'string' }, description: 'feature layers (default: cross-validated)' },
      classifier: { enum: ['forest', 'logistic'], description: 'classifier (default: cross-validated)' },
      folds: int(2, 'cross-validation folds for the choice'),
    }),
  },
  {
    name: 'squeeze',
    create: (p) => new Squeeze(p),
    load: (s) => Squeeze.load(s),
    describe: {
      summary: 'feature squeezing: largest L1 change of the prediction under bit-depth and median squeezers',
      reference: new Squeeze().reference,
      kind: 'detector',
      reportedAs: 'squeeze',
    },
    schema: object({
      bits: { type: 'integer', minimum: 1, maximum: 8, description: 'bit depth' },
      medians: { type: 'array', items: { type: 'integer', minimum: 2 }, description: 'median filter sizes' },
    }),
  },
  {
    name: 'magnet',
    create: (p) => new MagNet(p),
    load: (s) => MagNet.load(s),
    describe: {
      summary: 'autoencoder reconstruction error (MagNet detector)',
      reference: new MagNet().reference,
      kind: 'detector',
      reportedAs: 'magnet',
    },
    schema: object({
      epochs: int(1, 'training epochs'),
      minSteps: int(1, 'least optimiser steps'),
      filters: int(1, 'autoencoder filters'),
      norm: { enum: [1, 2], description: 'reconstruction-error norm' },
      seed: { type: 'integer' },
      batchSize: int(1, 'training batch size'),
    }),
  },
]);

/**
 * The names detectors report (`kd_bu`, `lid`, `mahalanobis`, `deepfeature_rf`, `squeeze`, `magnet`): the
 * scorecard's rows and `detect --json` use them. Any spelling resolves through `detectorRegistry`.
 */
export const DETECTOR_NAMES: string[] = detectorRegistry.entries().map((e) => e.describe.reportedAs as string);

/** name → entry, under the reported names (as before the registry). */
export const DETECTORS: Record<string, DetectorEntry> = Object.fromEntries(
  detectorRegistry.entries().map((e) => [e.describe.reportedAs as string, e]),
);

/** A new detector (any spelling of its name; unknown → one-line exit-2 error naming the closest). */
export function createDetector(name: string, params?: Record<string, unknown>): Detector {
  return detectorRegistry.get(name).create(params);
}

const DETECTOR_FILE = 'detector.json';

export function saveDetector(det: Detector, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, DETECTOR_FILE);
  writeFileSync(file, JSON.stringify(det.save()));
  return file;
}

/** Load a saved detector; with `model`, refuse it unless it was fitted on that model. */
export async function loadDetector(dir: string, model?: DifferentiableModel): Promise<Detector> {
  const file = dir.endsWith('.json') ? dir : path.join(dir, DETECTOR_FILE);
  if (!existsSync(file)) throw notFound(`no saved detector at ${file}`);
  let s: DetectorState;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as DetectorState;
  } catch (e) {
    throw badInput(`${file}: not a JSON detector file`, e);
  }
  if (s?.schema !== 'medshield.detector/1' || !s.model?.sha256)
    throw badInput(`${file}: not a medshield detector (schema missing or unknown)`);
  if (typeof s.detector !== 'string' || !detectorRegistry.has(s.detector))
    throw unsupported(`${file}: unknown detector '${s.detector}'`);
  const e = detectorRegistry.get(s.detector);
  if (model) {
    const id = await modelIdentity(model);
    if (id.sha256 !== s.model.sha256)
      throw mismatch(
        `detector in ${dir} was fitted for model '${s.model.name}' (sha256 ` +
          `${s.model.sha256.slice(0, 12)}…), not '${id.name}' (${id.sha256.slice(0, 12)}…)`,
      );
  }
  return e.load(s);
}
