#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
// Runs the bundled CLI (dist/), building it first when it is missing or older than the sources.
// Node 20 reads and parses the NODE_EXTRA_CA_CERTS bundle at process start, before any script runs
// (~100 ms on a machine whose bundle holds the system's ~140 roots); ts86 makes no TLS connection,
// so the `ts86` command starts node without it.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bundle = join(root, 'dist', 'ts86.mjs');
const { buildIfStale } = await import(pathToFileURL(join(root, 'scripts', 'build.mjs')).href);
await buildIfStale();
if (!existsSync(bundle)) { console.error('ts86: the build did not produce dist/ts86.mjs'); process.exit(1); }
const { main } = await import(pathToFileURL(bundle).href);
process.exitCode = await main(process.argv.slice(2));
