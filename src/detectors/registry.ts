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
import type { Detector, DetectorState } from './types.js';
import { modelIdentity } from './common.js';
import { KdBu } from './kd-bu.js';
import { Lid } from './lid.js';
import { Mahalanobis } from './mahalanobis.js';
import { DeepFeatureRf } from './deepfeature-rf.js';
import { Squeeze } from './squeeze.js';
import { MagNet } from './magnet.js';

interface Entry { create: (params?: Record<string, unknown>) => Detector; load: (s: DetectorState) => Detector }

export const DETECTORS: Record<string, Entry> = {
  kd_bu: { create: (p) => new KdBu(p), load: (s) => KdBu.load(s) },
  lid: { create: (p) => new Lid(p), load: (s) => Lid.load(s) },
  mahalanobis: { create: (p) => new Mahalanobis(p), load: (s) => Mahalanobis.load(s) },
  deepfeature_rf: { create: (p) => new DeepFeatureRf(p), load: (s) => DeepFeatureRf.load(s) },
  squeeze: { create: (p) => new Squeeze(p), load: (s) => Squeeze.load(s) },
  magnet: { create: (p) => new MagNet(p), load: (s) => MagNet.load(s) },
};

export const DETECTOR_NAMES = Object.keys(DETECTORS);

export function createDetector(name: string, params?: Record<string, unknown>): Detector {
  const e = DETECTORS[name.toLowerCase().replace(/-/g, '_')];
  if (!e) throw unsupported(`unknown detector '${name}' (choose ${DETECTOR_NAMES.join(', ')})`);
  return e.create(params);
}

export const DETECTOR_FILE = 'detector.json';

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
  try { s = JSON.parse(readFileSync(file, 'utf8')) as DetectorState; } catch (e) { throw badInput(`${file}: not a JSON detector file`, e); }
  if (s?.schema !== 'medshield.detector/1' || !s.model?.sha256) throw badInput(`${file}: not a medshield detector (schema missing or unknown)`);
  const e = DETECTORS[s.detector];
  if (!e) throw unsupported(`${file}: unknown detector '${s.detector}'`);
  if (model) {
    const id = await modelIdentity(model);
    if (id.sha256 !== s.model.sha256) throw mismatch(`detector in ${dir} was fitted for model '${s.model.name}' (sha256 ${s.model.sha256.slice(0, 12)}…), not '${id.name}' (${id.sha256.slice(0, 12)}…)`);
  }
  return e.load(s);
}
