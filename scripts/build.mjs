// Bundles with esbuild, each only when a source is newer than its output: the CLI into
// dist/ts86.mjs (with its device-model worker, dist/virtio-net-worker.mjs) and into a V8 startup
// snapshot, dist/ts86.blob (`buildIfStale`, run by host/bin/ts86.mjs), and the browser page
// (host/web/: the page, its CPU worker and styles) into dist/web/ (`buildWebIfStale`, run by
// `ts86 serve`).
import { spawnSync } from 'node:child_process';
import { statSync, readFileSync, mkdirSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { join, dirname, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sourcesTime, stale } from './build-stale.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, 'dist', 'ts86.mjs');
const BLOB = join(root, 'dist', 'ts86.blob');
/** The node that built the blob: V8 refuses a snapshot from any other build of node. */
const BLOB_NODE = `${BLOB}.node`;
const WEB_SRC = join(root, 'host', 'web');
const WEB_DIR = join(root, 'dist', 'web');

/** Write then rename, so a ts86 (or a browser) reading at the same moment never sees a half-written file. */
function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/** Size and modification time of the node running this script, as `stat -Lc '%s %Y'` prints them for the launcher. */
function nodeIdentity() {
  const st = statSync(process.execPath);
  return `${st.size} ${Math.floor(st.mtimeMs / 1000)}`;
}

function readOr(path, fallback) {
  try { return readFileSync(path, 'utf8').trim(); } catch { return fallback; }
}

export async function buildIfStale() {
  // One walk over the sources for both outputs.
  const since = sourcesTime();
  const bundles = stale(out, since);
  // The sidecar names the node on its first line ('none' after it: the snapshot failed to build,
  // not retried), the tree the snapshot's paths point into on its second.
  const [builtBy = '', builtIn] = readOr(BLOB_NODE, '').split('\n');
  const snapshot = bundles || stale(BLOB_NODE, since) || builtBy.split(' ').slice(0, 2).join(' ') !== nodeIdentity() || builtIn !== root;
  if (!snapshot) return;
  const esbuild = await import('esbuild');
  if (bundles) {
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
    // CLI: its time stamp says when both were built.
    emit(await bundle('virtio-net-worker.ts', join(root, 'dist', 'virtio-net-worker.mjs')));
    emit(await bundle('main.ts', out));
  }
  await buildSnapshot(esbuild);
  // The build service would otherwise stay up for the life of the CLI, holding its output buffer.
  await esbuild.stop();
}

/**
 * esbuild plugin for the snapshot's CommonJS bundle. `import.meta.url` becomes what the module's
 * URL is in the ES module build (dist/ts86.mjs for what that bundle holds, its own file for the
 * scripts it leaves separate), so the device-model worker and the guest builder find their files
 * as they do there. `ws` is loaded from node_modules when first used: a snapshot holds no module
 * loaded from disk, and the bundle's own `require` reaches node's built-in modules only.
 */
const snapshotPlugin = {
  name: 'ts86-snapshot',
  setup(b) {
    const scripts = join(root, 'scripts') + sep;
    b.onLoad({ filter: /\.(ts|mjs)$/ }, (args) => {
      if (relative(root, args.path).split(sep).includes('node_modules')) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const url = pathToFileURL(args.path.startsWith(scripts) ? args.path : out).href;
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(url)), loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
    });
    b.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', namespace: 'node-modules' }));
    b.onLoad({ filter: /.*/, namespace: 'node-modules' }, (args) => ({
      contents: `module.exports = require('node:module').createRequire(${JSON.stringify(join(root, 'package.json'))})(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * The CLI as a V8 startup snapshot (dist/ts86.blob): node starts with the bundle's modules already
 * evaluated (host/cli-snapshot.ts), instead of loading and compiling 650 KB of JavaScript through
 * its ES module loader at every start. Only the node that built it can load it, so the node's
 * identity is written beside it (dist/ts86.blob.node, with the tree the blob's paths point into),
 * and host/bin/ts86 uses the blob only when the node it starts is that one. A snapshot that cannot
 * be built is reported once, and ts86 starts without it.
 */
async function buildSnapshot(esbuild) {
  const entry = join(root, 'dist', 'ts86-snapshot.cjs');
  const id = nodeIdentity();
  rmSync(BLOB_NODE, { force: true });
  const result = await esbuild.build({
    entryPoints: [join(root, 'host', 'cli-snapshot.ts')],
    bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: entry, logLevel: 'warning', write: false,
    // Only `ts86 serve` loads the page builder, and serve does not start from the snapshot.
    external: ['../scripts/build.mjs'],
    plugins: [snapshotPlugin],
  });
  writeAtomically(entry, result.outputFiles[0].contents);
  const tmp = `${BLOB}.${process.pid}.tmp`;
  // Node options and V8 flags in the environment would be built into the blob, and a start
  // without them would refuse it; the CA bundle is not needed to build it.
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  const r = spawnSync(process.execPath, ['--snapshot-blob', tmp, '--build-snapshot', entry], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    rmSync(BLOB, { force: true });
    const why = (r.error?.message ?? r.stderr.split('\n').find((l) => /Error/.test(l)) ?? `status ${r.status}`).trim();
    process.stderr.write(`ts86: the CLI's startup snapshot could not be built (${why}); ts86 starts without it\n`);
    writeAtomically(BLOB_NODE, `${id} none\n${root}\n`);
    return;
  }
  renameSync(tmp, BLOB);
  // Last: its time stamp says when the snapshot was built, its text for which node.
  writeAtomically(BLOB_NODE, `${id}\n${root}\n`);
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
