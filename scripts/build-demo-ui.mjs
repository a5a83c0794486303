#!/usr/bin/env node
// Builds the dashboard's in-browser demo page (view 7) into dist/dashboard-ui/assets/demo/ (served by the
// dashboard's /assets route; run after scripts/build-dashboard.mjs, which empties dist/dashboard-ui):
// demo.js (esbuild bundle of web/dashboard/demo/demo.ts: TensorFlow.js + the library's own PGD and
// inference code, with src/engine/index.ts replaced by the browser shim engine-shim.ts), demo.css,
// demo.html (served at /demo by src/dashboard/routes/demo.ts), and the tfjs-backend-wasm binaries (no CDN).
//   node scripts/build-demo-ui.mjs [--out DIR]
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const i = process.argv.indexOf('--out');
const out = path.resolve(i > 0 ? process.argv[i + 1] : path.join(root, 'dist', 'dashboard-ui', 'assets', 'demo'));
const src = path.join(root, 'web', 'dashboard', 'demo');
const shim = path.join(src, 'engine-shim.ts');
const engineIndex = path.join(root, 'src', 'engine', 'index.ts');
mkdirSync(path.join(out, 'wasm'), { recursive: true });

/** Any import of src/engine/index.js from the bundled library code resolves to the browser shim. */
const engineShim = {
  name: 'medshield-engine-shim',
  setup(b) {
    b.onResolve({ filter: /engine\/index\.js$/ }, (a) => {
      const p = path.resolve(a.resolveDir, a.path.replace(/\.js$/, '.ts'));
      return p === engineIndex ? { path: shim } : undefined;
    });
  },
};

await build({
  entryPoints: [path.join(src, 'demo.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  outfile: path.join(out, 'demo.js'),
  plugins: [engineShim],
  define: { 'process.env.MEDSHIELD_FOLD_BN': 'undefined', 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
copyFileSync(path.join(src, 'demo.css'), path.join(out, 'demo.css'));
copyFileSync(path.join(src, 'demo.html'), path.join(out, 'demo.html'));
const wasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  copyFileSync(path.join(wasmDir, 'dist', f), path.join(out, 'wasm', f));
}
if (process.env.MEDSHIELD_QUIET !== '1') console.log(`demo page built in ${path.relative(root, out)}`);
