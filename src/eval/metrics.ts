/** Classification metrics live with the models (training selects epochs by them); re-exported for eval's callers. */
export * from '../models/metrics.js';
