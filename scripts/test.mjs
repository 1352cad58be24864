// `npm test`: installs what the tests need, typechecks, runs every uvu test file, and ends with
// a single `N passed, N failed` line.
import { spawn, spawnSync } from 'node:child_process';
import { ensurePackages } from './deps.mjs';

ensurePackages(['nasm', 'gcc-multilib', 'qemu-system-x86', 'chromium'], 'the tests');

let passed = 0, failed = 0;

console.log('> tsc --noEmit');
const tsc = spawnSync('npx', ['tsc', '--noEmit'], { stdio: 'inherit' });
if (tsc.status === 0) passed++; else { failed++; console.log('typecheck FAILED'); }

const pattern = process.argv[2] ?? '\\.test\\.ts$';
// Plain output: the summary is parsed below (FORCE_COLOR would override NO_COLOR with a warning).
const env = { ...process.env, NO_COLOR: '1' };
delete env.FORCE_COLOR;
// Streamed as it runs (progress on screen) and kept for the summary.
const { out, status } = await new Promise((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'tests', pattern], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let text = '';
  child.stdout.on('data', (d) => { text += d; process.stdout.write(d); });
  child.on('close', (code) => resolve({ out: text, status: code }));
});
const num = (label) => Number((out.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? NaN);
const total = num('Total'), ok = num('Passed');
if (Number.isNaN(total)) { failed++; console.log('test runner did not finish'); }
// uvu's Total counts the tests that ran: skipped ones are not in it.
else { passed += ok; failed += total - ok; if (status !== 0 && total === ok) failed++; }

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
