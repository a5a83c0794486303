/** Image selection lives in the data layer (attacks and training use it too); re-exported for eval's callers. */
export { selectImages } from '../data/images.js';
