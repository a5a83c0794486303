/**
 * `medshield replicate amit` lives in src/api/replicate-amit.ts (run through `medshield replicate amit`);
 * this module keeps the names the CLI exported before.
 */
export {
  replicateAmit,
  formatAmit,
  AMIT_CLAIM,
  AMIT_DEFENCES,
  type AmitOptions,
  type AmitResult,
} from '../../api/replicate-amit.js';
import { formatAmit, type AmitResult } from '../../api/replicate-amit.js';

/** Print `replicate amit`'s text form. */
export function printAmit(r: AmitResult): void {
  process.stdout.write(formatAmit(r));
}
