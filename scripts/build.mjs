// Bundles the CLI with esbuild into dist/ts86.mjs (only when a source is newer than the bundle).
import { statSync, readdirSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ts86.mjs');
const SOURCES = ['cpu', 'bus', 'irqchip', 'devices', 'firmware', 'host'];

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
  }
  return t;
}

export async function buildIfStale() {
  let outTime = 0;
  try { outTime = statSync(out).mtimeMs; } catch { /* not built yet */ }
  const srcTime = Math.max(...SOURCES.map((d) => newest(join(root, d))), statSync(join(root, 'scripts', 'build-guest.mjs')).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs);
  if (outTime >= srcTime) return;
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(root, 'host', 'main.ts')],
    bundle: true, platform: 'node', format: 'esm', target: 'node20',
    outfile: out, sourcemap: 'inline', logLevel: 'warning', write: false,
    // The guest builder finds its inputs next to itself, so it stays a separate module (dist/ and host/ sit at the same depth).
    external: ['ws', '../scripts/build-guest.mjs'],
  });
  // Write then rename, so a ts86 started at the same moment never loads a half-written bundle.
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, result.outputFiles[0].contents);
  renameSync(tmp, out);
}

if (import.meta.url === `file://${process.argv[1]}`) await buildIfStale();
