// Placeholder: the native oneDNN backend is written in src/engine/native/.
export async function registerNativeBackend(_threads: number): Promise<{ threads: number; simd: boolean } | string> {
  return 'native addon not built';
}
