/**
 * Node built-in modules loaded when first used rather than when the CLI's modules are evaluated.
 * The CLI's startup snapshot (host/cli-snapshot.ts) evaluates them once, at build time, and a
 * module loaded then keeps what it made then: `worker_threads` its shared working-directory
 * counter, which V8 builds the snapshot without (no SharedArrayBuffer), so every worker started
 * from it failed; `dns` its resolver's channel.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export function builtin<T>(name: string): () => T {
  let m: T | undefined;
  return () => (m ??= load(name) as T);
}
