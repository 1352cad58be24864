// Whether a build output is older than what it is built from: the CLI's bundles and its startup
// snapshot (scripts/build.mjs, and the snapshot itself at every start, host/cli-snapshot.ts) and
// the page.
import { readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['cpu', 'bus', 'irqchip', 'devices', 'firmware', 'channels', 'host'];
/** The build scripts themselves, and the guest builder, which the CLI bundles carry or call. */
const SCRIPTS = ['build.mjs', 'build-stale.mjs', 'build-guest.mjs'];

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : /\.(ts|html|css)$/.test(e.name) ? statSync(p).mtimeMs : 0);
  }
  return t;
}

/** The modification time of the newest source (a walk over every source file). */
export function sourcesTime() {
  return Math.max(...SOURCES.map((d) => newest(join(root, d))), ...SCRIPTS.map((f) => statSync(join(root, 'scripts', f)).mtimeMs));
}

/** True when `output` is missing or older than any source; `since` saves the walk for a caller checking several outputs. */
export function stale(output, since = sourcesTime()) {
  let outTime = 0;
  try { outTime = statSync(output).mtimeMs; } catch { /* not built yet */ }
  return outTime < since;
}
