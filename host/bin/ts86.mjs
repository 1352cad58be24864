#!/usr/bin/env node
// Runs the bundled CLI (dist/), building it first when it is missing or older than the sources.
// The `ts86` command (host/bin/ts86) starts node on this file with its process settings.
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

// Run for the startup snapshot after a rebuild (host/cli-snapshot.ts): that process only waits for
// this one. Killed outright, it cannot pass the signal on, and this one would run on, holding the
// caller's pipes open: the pipe it gave us closes when it dies, and this process follows.
if (process.env.TS86_PARENT_PIPE) {
  const parent = new Socket({ fd: Number(process.env.TS86_PARENT_PIPE), readable: true, writable: false });
  parent.on('end', () => process.exit(1)).on('error', () => process.exit(1)).resume().unref();
  delete process.env.TS86_PARENT_PIPE;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bundle = join(root, 'dist', 'ts86.mjs');
const { buildIfStale } = await import(pathToFileURL(join(root, 'scripts', 'build.mjs')).href);
await buildIfStale();
if (!existsSync(bundle)) { console.error('ts86: the build did not produce dist/ts86.mjs'); process.exit(1); }
const { main } = await import(pathToFileURL(bundle).href);
process.exitCode = await main(process.argv.slice(2));
