/** Every CLI command, one line each. A new command is a file in this folder plus a line here. */
import type { Command } from 'commander';
import dicom from './dicom.js';
import keys from './keys.js';
import sign from './sign.js';
import info from './info.js';
import datasets from './datasets.js';
import train from './train.js';
import evaluate from './eval.js';
import predict from './predict.js';
import demo from './demo.js';
import serve from './serve.js';
import gateway from './gateway.js';
import audit from './audit.js';
import sbom from './sbom.js';
import attack from './attack.js';

export const commands: Array<(program: Command) => void> = [
  dicom,
  keys,
  sign,
  info,
  datasets,
  train,
  evaluate,
  predict,
  demo,
  serve,
  gateway,
  audit,
  sbom,
  attack,
];
