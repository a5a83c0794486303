/** Every CLI command, one line each. A new command is a file in this folder plus a line here. */
import type { Command } from 'commander';
import info from './info.js';
import datasets from './datasets.js';
import train from './train.js';
import evaluate from './eval.js';
import predict from './predict.js';
import demo from './demo.js';

export const commands: Array<(program: Command) => void> = [
  info,
  datasets,
  train,
  evaluate,
  predict,
  demo,
];
