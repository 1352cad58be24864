#!/usr/bin/env node
// Runs the bundled CLI (dist/), building it first when it is missing or older than the sources.
// The `ts86` command (host/bin/ts86) starts node on this file with its process settings.
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
