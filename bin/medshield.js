#!/usr/bin/env node
// medshield command-line entry point (compiled TypeScript lives in dist/).
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
const { main } = await import('../dist/src/cli/main.js');
await main(process.argv.slice(2));
