/**
 * The CLI's entry in its V8 startup snapshot (dist/ts86.blob, built by scripts/build.mjs): the
 * snapshot holds every module of the CLI already evaluated, so a start deserializes them instead
 * of loading and compiling the bundle through node's ES module loader. host/bin/ts86 starts node
 * on the blob as `node --snapshot-blob dist/ts86.blob -- ARGS`.
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startupSnapshot } from 'node:v8';
import { stale } from '../scripts/build-stale.mjs';
import { main } from './main.js';

// import.meta.url is dist/ts86.mjs's in the snapshot's bundle (scripts/build.mjs): the tree the
// snapshot was built in, whose paths its modules hold.
const builtIn = dirname(fileURLToPath(import.meta.url));

/** This process's node options, split into the blob it started from and the rest. */
function nodeOptions(): { blob: string; others: string[] } {
  const argv = process.execArgv, others: string[] = [];
  let blob = '';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--snapshot-blob') blob = argv[++i]!;
    else if (argv[i]!.startsWith('--snapshot-blob=')) blob = argv[i]!.slice('--snapshot-blob='.length);
    else others.push(argv[i]!);
  }
  return { blob, others };
}

/**
 * Sources changed since the snapshot was built, or the tree moved since (the snapshot's paths
 * point into where it was built): the tree's ts86.mjs rebuilds the snapshot and runs the CLI from
 * a fresh bundle, in a child with the same node settings. This process only waits, passing on the
 * signals a terminal does not send to the whole process group. A SIGKILL cannot be passed on: the
 * child also holds the read end of a pipe only this process writes to, and exits when it closes.
 */
function runRebuilt(dist: string, nodeArgs: string[], args: string[]): void {
  const child = spawn(process.execPath, [...nodeArgs, join(dist, '..', 'host', 'bin', 'ts86.mjs'), ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'], env: { ...process.env, TS86_PARENT_PIPE: '3' },
  });
  process.on('SIGINT', () => {}); // a terminal's Ctrl-C reaches the child itself
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) { process.removeAllListeners(signal); process.kill(process.pid, signal); } else process.exit(code ?? 1);
  });
}

startupSnapshot.setDeserializeMainFunction(() => {
  // No script path: the arguments start at argv[1].
  const args = process.argv.slice(1);
  const { blob, others } = nodeOptions();
  const dist = dirname(realpathSync(resolve(blob)));
  if (dist !== builtIn || stale(join(dist, 'ts86.blob'))) { runRebuilt(dist, others, args); return; }
  void main(args).then((status) => { process.exitCode = status; });
});
