/**
 * Tamper run (issue 6 acceptance 2): ≥ 10 000 mutants of signed real DICOM files, every class of change
 * (mutants.ts). Prints counts; exits 1 on any false accept or crash.
 *   node dist/bench/signatures/tamper.js [--n 10000] [--seed 1]
 */
import { makePki, runTamper } from './runs.js';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const n = arg('--n', 10000);
const seed = arg('--seed', 1);
const t0 = performance.now();
const c = await runTamper(n, seed, await makePki(), (k) => process.stderr.write(`\r${k}/${n}`));
process.stderr.write('\n');
console.log(
  `tamper run: ${c.total} mutants (${c.inside} inside the signed range, ${c.outside}` +
    ` outside), seed ${seed}, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
console.log(
  `inside: ${c.rejected} rejected, ${c.falseAccepts} false accepts (` +
    `${((100 * c.rejected) / Math.max(1, c.inside)).toFixed(2)} % rejection)`,
);
console.log(`outside: ${c.outsideReported}/${c.outside} accepted and reported as outside the signed range`);
console.log(`crashes: ${c.crashes}`);
for (const [k, v] of Object.entries(c.byKind))
  console.log(`  ${k.padEnd(26)} ${String(v.n).padStart(6)}  rejected ${v.rejected}  accepted ${v.accepted}`);
for (const e of c.examples) console.log(`  ! ${e}`);
process.exit(c.falseAccepts || c.crashes ? 1 : 0);
