/**
 * Every CLI command, one line each: the top-level names a file registers and how to load it.
 * A new command is a file in this folder plus a line here. Only the module of the command being
 * run is imported, so `medshield dicom verify` never pays for loading the tensor engine.
 */
import type { Command } from 'commander';

export interface CommandEntry {
  names: string[];
  load: () => Promise<{ default: (program: Command) => void }>;
}

export const commands: CommandEntry[] = [
  { names: ['info'], load: () => import('./info.js') },
  { names: ['datasets'], load: () => import('./datasets.js') },
  { names: ['train'], load: () => import('./train.js') },
  { names: ['eval'], load: () => import('./eval.js') },
  { names: ['predict'], load: () => import('./predict.js') },
  { names: ['export'], load: () => import('./export.js') },
  { names: ['demo'], load: () => import('./demo.js') },
  { names: ['attack'], load: () => import('./attack.js') },
  { names: ['patch'], load: () => import('./patch.js') },
  { names: ['universal'], load: () => import('./universal.js') },
  { names: ['defend'], load: () => import('./defend.js') },
  { names: ['replicate'], load: () => import('./replicate.js') },
  { names: ['keys'], load: () => import('./keys.js') },
  { names: ['dicom'], load: () => import('./dicom.js') },
  { names: ['sign', 'verify'], load: () => import('./sign.js') },
  { names: ['verify-result'], load: () => import('./verify-result.js') },
  { names: ['serve'], load: () => import('./serve.js') },
  { names: ['gateway'], load: () => import('./gateway.js') },
  { names: ['audit'], load: () => import('./audit.js') },
  { names: ['sbom'], load: () => import('./sbom.js') },
  { names: ['target'], load: () => import('./target.js') },
  { names: ['detect'], load: () => import('./detect.js') },
  { names: ['certify'], load: () => import('./certify.js') },
  { names: ['scorecard'], load: () => import('./scorecard.js') },
  { names: ['model'], load: () => import('./model.js') },
  { names: ['campaign'], load: () => import('./campaign.js') },
  { names: ['dashboard'], load: () => import('./dashboard.js') },
  { names: ['evidence'], load: () => import('./evidence.js') },
  { names: ['worker'], load: () => import('./worker.js') },
];
