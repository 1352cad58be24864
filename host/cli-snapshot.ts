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

/** The folder of the blob this process started from. */
function startedFrom(): string {
  const argv = process.execArgv;
  const i = argv.findIndex((a) => a === '--snapshot-blob' || a.startsWith('--snapshot-blob='));
  const blob = argv[i] === '--snapshot-blob' ? argv[i + 1]! : argv[i]!.slice('--snapshot-blob='.length);
  return dirname(realpathSync(resolve(blob)));
}

/**
 * Sources changed since the snapshot was built, or the tree moved since (the snapshot's paths
 * point into where it was built): the tree's ts86.mjs rebuilds the snapshot and runs the CLI from
 * a fresh bundle, in a child with the same node settings. This process only waits, passing on the
 * signals a terminal does not send to the whole process group.
 */
function runRebuilt(dist: string, args: string[]): void {
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    if (process.execArgv[i] === '--snapshot-blob') i++;
    else if (!process.execArgv[i]!.startsWith('--snapshot-blob=')) execArgv.push(process.execArgv[i]!);
  }
  const child = spawn(process.execPath, [...execArgv, join(dist, '..', 'host', 'bin', 'ts86.mjs'), ...args], { stdio: 'inherit' });
  process.on('SIGINT', () => {}); // a terminal's Ctrl-C reaches the child itself
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) { process.removeAllListeners(signal); process.kill(process.pid, signal); } else process.exit(code ?? 1);
  });
}

startupSnapshot.setDeserializeMainFunction(() => {
  // No script path: the arguments start at argv[1].
  const args = process.argv.slice(1);
  const dist = startedFrom();
  if (dist !== builtIn || stale(join(dist, 'ts86.blob'))) { runRebuilt(dist, args); return; }
  void main(args).then((status) => { process.exitCode = status; });
});
