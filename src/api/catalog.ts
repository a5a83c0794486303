/**
 * What medshield knows about without running anything: the MedMNIST catalogue, the shipped models and the
 * model-card format (for the dashboard's model inventory and library users listing models).
 */
export { MEDMNIST, SIZES, type DatasetInfo, type Task } from '../data/medmnist.js';
export { CARD_FILE, type ModelCard } from '../models/card.js';
export { SHIPPED_MODELS, defaultModelDir, resolveModelPath } from '../models/io.js';
