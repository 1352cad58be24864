// The `ts86` command (host/bin/ts86): which node it starts, on what, with which settings. A `node`
// placed first on PATH reports what it was given; the truth for the helper-thread count is the
// CPUs this process may run on, as node's os.availableParallelism() gives them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The launcher resolves its own path, symlinks included.
const ROOT = realpathSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const LAUNCHER = join(ROOT, 'host', 'bin', 'ts86');

/** Runs `cmd ARGS` with a recording `node` first on PATH; returns the argv and variable it saw. */
function launch(cmd: string, args: string[]): { argv: string[]; caCerts: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ts86-launcher-'));
  try {
    writeFileSync(join(dir, 'node'), '#!/bin/sh\nprintf "%s\\n" "${NODE_EXTRA_CA_CERTS-unset}" "$@"\n');
    chmodSync(join(dir, 'node'), 0o755);
    // An OpenMP thread count in the environment must not change the CPU count the launcher sees.
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', OMP_NUM_THREADS: '64' };
    const r = spawnSync(cmd, args, { encoding: 'utf8', env });
    assert.is(r.status, 0, r.stderr);
    const [caCerts, ...argv] = r.stdout.trimEnd().split('\n');
    return { argv, caCerts: caCerts! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cpus = availableParallelism();
const pool = Math.min(4, Math.max(1, cpus - 1));

test('starts node on ts86.mjs with the arguments as given, V8 helper threads at CPUs - 1 (1-4), no NODE_EXTRA_CA_CERTS', () => {
  const { argv, caCerts } = launch(LAUNCHER, ['--run', 'echo "a b"', '-m', '64']);
  assert.equal(argv, [`--v8-pool-size=${pool}`, join(ROOT, 'host', 'bin', 'ts86.mjs'), '--run', 'echo "a b"', '-m', '64']);
  assert.is(caCerts, 'unset');
});

test('finds ts86.mjs through a symlink to the launcher (as npm links a package bin)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts86-bin-'));
  try {
    symlinkSync(LAUNCHER, join(dir, 'ts86'));
    assert.is(launch(join(dir, 'ts86'), ['--help']).argv[1], join(ROOT, 'host', 'bin', 'ts86.mjs'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
