// Placeholder: the wasm backend registration is written in src/engine/wasm/.
export async function registerWasmBackend(_threads: number): Promise<{ threads: number; simd: boolean } | string> {
  return 'wasm backend not implemented yet';
}
