/** Every CLI command, one line each. A new command is a file in this folder plus a line here. */
import type { Command } from 'commander';
import info from './info.js';

export const commands: Array<(program: Command) => void> = [
  info,
];
