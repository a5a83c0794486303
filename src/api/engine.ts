/**
 * Starting the tensor engine, for library users and the shells: the native oneDNN backend where it is built, else
 * the portable wasm backend (`backend: 'auto'`), with a thread count and a seed.
 */
export {
  initEngine,
  engineInfo,
  currentEngine,
  type BackendChoice,
  type BackendName,
  type EngineInfo,
  type EngineOptions,
} from '../engine/index.js';
