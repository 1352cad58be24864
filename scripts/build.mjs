// Bundles with esbuild, each only when a source is newer than its output: the CLI into
// dist/ts86.mjs (with its device-model worker, dist/virtio-net-worker.mjs) (`buildIfStale`, run by host/bin/ts86.mjs) and the browser page (host/web/: the
// page, its CPU worker and styles) into dist/web/ (`buildWebIfStale`, run by `ts86 serve`).
import { statSync, readdirSync, readFileSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ts86.mjs');
const WEB_SRC = join(root, 'host', 'web');
const WEB_DIR = join(root, 'dist', 'web');
const SOURCES = ['cpu', 'bus', 'irqchip', 'devices', 'firmware', 'channels', 'host'];

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : /\.(ts|html|css)$/.test(e.name) ? statSync(p).mtimeMs : 0);
  }
  return t;
}

/** True when `output` is missing or older than any source. */
function stale(output) {
  let outTime = 0;
  try { outTime = statSync(output).mtimeMs; } catch { /* not built yet */ }
  const srcTime = Math.max(...SOURCES.map((d) => newest(join(root, d))), statSync(join(root, 'scripts', 'build-guest.mjs')).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs);
  return outTime < srcTime;
}

/** Write then rename, so a ts86 (or a browser) reading at the same moment never sees a half-written file. */
function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

export async function buildIfStale() {
  if (!stale(out)) return;
  const esbuild = await import('esbuild');
  const bundle = (entry, outfile) => esbuild.build({
    entryPoints: [join(root, 'host', entry)],
    bundle: true, platform: 'node', format: 'esm', target: 'node20',
    // A linked map, not an inline one: V8 keeps a script's whole source text for the process's
    // life, and an inline map would triple it (node reads the .map only under --enable-source-maps).
    outfile, sourcemap: 'linked', logLevel: 'warning', write: false,
    // The guest and page builders find their inputs next to themselves, so they stay separate
    // modules (dist/ and host/ sit at the same depth).
    external: ['ws', '../scripts/build-guest.mjs', '../scripts/build.mjs'],
  });
  /** Each bundle's map first, then the bundle. */
  const emit = (result) => {
    for (const f of result.outputFiles.filter((o) => o.path.endsWith('.map'))) writeAtomically(f.path, f.contents);
    for (const f of result.outputFiles.filter((o) => !o.path.endsWith('.map'))) writeAtomically(f.path, f.contents);
  };
  // The device-model worker (host/device-model.ts loads it from beside the CLI bundle), then the
  // CLI last: its time stamp says when both were built.
  emit(await bundle('virtio-net-worker.ts', join(root, 'dist', 'virtio-net-worker.mjs')));
  emit(await bundle('main.ts', out));
  // The build service would otherwise stay up for the life of the CLI, holding its output buffer.
  await esbuild.stop();
}

/**
 * The page: its script, the CPU worker (the Machine runs there, so the page stays responsive),
 * the device-model worker (the network card's data path, when the page is cross-origin isolated)
 * and one stylesheet (the terminal widget's and the page's); index.html is copied as it is.
 */
export async function buildWebIfStale() {
  const index = join(WEB_DIR, 'index.html');
  if (!stale(index)) return WEB_DIR;
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: ['page.ts', 'cpu-worker.ts', 'net-worker.ts', 'page.css'].map((f) => join(WEB_SRC, f)),
    bundle: true, platform: 'browser', format: 'esm', target: 'chrome110', outdir: WEB_DIR,
    sourcemap: 'linked', logLevel: 'warning', write: false,
  });
  for (const f of result.outputFiles) writeAtomically(f.path, f.contents);
  // Last: its time stamp says when the page was built.
  writeAtomically(index, readFileSync(join(WEB_SRC, 'index.html')));
  return WEB_DIR;
}

if (import.meta.url === `file://${process.argv[1]}`) { await buildIfStale(); await buildWebIfStale(); }
