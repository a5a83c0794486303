/** The tfjs backend name of the native oneDNN backend. */
export const NATIVE_BACKEND_NAME = 'native';
