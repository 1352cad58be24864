// The `ts86` command (host/bin/ts86): which node it starts, on what (the CLI's startup snapshot or
// ts86.mjs), with which settings. A `node` placed first on PATH reports what it was given; the
// truth for the helper-thread count is the CPUs this process may run on, as node's
// os.availableParallelism() gives them, and for the node's identity its own file's size and time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The launcher resolves its own path, symlinks included.
const ROOT = realpathSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const LAUNCHER = join(ROOT, 'host', 'bin', 'ts86');

// A node that prints the variable and its arguments, first on PATH for every launch.
const FAKE = mkdtempSync(join(tmpdir(), 'ts86-launcher-'));
writeFileSync(join(FAKE, 'node'), '#!/bin/sh\nprintf "%s\\n" "${NODE_EXTRA_CA_CERTS-unset}" "$@"\n');
chmodSync(join(FAKE, 'node'), 0o755);
const fakeStat = statSync(join(FAKE, 'node'));
/** What `stat -Lc '%s %Y'` prints for the recording node, as the build writes it for the real one. */
const FAKE_ID = `${fakeStat.size} ${Math.floor(fakeStat.mtimeMs / 1000)}`;

/** Runs `cmd ARGS` with the recording `node` first on PATH; returns the argv and variable it saw. */
function launch(cmd: string, args: string[], extraEnv: Record<string, string> = {}): { argv: string[]; caCerts: string } {
  // An OpenMP thread count in the environment must not change the CPU count the launcher sees.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${FAKE}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt', OMP_NUM_THREADS: '64', ...extraEnv };
  if (!('NODE_OPTIONS' in extraEnv)) delete env.NODE_OPTIONS;
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  assert.is(r.status, 0, r.stderr);
  const [caCerts, ...argv] = r.stdout.trimEnd().split('\n');
  return { argv, caCerts: caCerts! };
}

/** A tree holding the launcher and a snapshot whose sidecar names `builtBy`; runs `f` on its launcher. */
function withSnapshotTree(builtBy: string, f: (launcher: string, root: string) => void): void {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'ts86-tree-')));
  try {
    mkdirSync(join(root, 'host', 'bin'), { recursive: true });
    mkdirSync(join(root, 'dist'));
    copyFileSync(LAUNCHER, join(root, 'host', 'bin', 'ts86'));
    writeFileSync(join(root, 'dist', 'ts86.blob'), '');
    writeFileSync(join(root, 'dist', 'ts86.blob.node'), `${builtBy}\n${root}\n`);
    f(join(root, 'host', 'bin', 'ts86'), root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const cpus = availableParallelism();
const pool = Math.min(4, Math.max(1, cpus - 1));

test('a node other than the one that built the snapshot: starts it on ts86.mjs with the arguments as given, V8 helper threads at CPUs - 1 (1-4), no NODE_EXTRA_CA_CERTS', () => {
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

test('the node that built the snapshot: starts it on the snapshot, the arguments after --', () => {
  withSnapshotTree(FAKE_ID, (launcher, root) => {
    const { argv, caCerts } = launch(launcher, ['--run', 'echo "a b"', '-m', '64']);
    assert.equal(argv, [`--v8-pool-size=${pool}`, '--snapshot-blob', join(root, 'dist', 'ts86.blob'), '--', '--run', 'echo "a b"', '-m', '64']);
    assert.is(caCerts, 'unset');
    assert.equal(launch(launcher, []).argv, [`--v8-pool-size=${pool}`, '--snapshot-blob', join(root, 'dist', 'ts86.blob'), '--']);
  });
});

test('ts86.mjs instead of the snapshot: another node, a snapshot that failed to build, NODE_OPTIONS, the two servers', () => {
  const onMjs = (launcher: string, root: string, args: string[], env: Record<string, string> = {}) =>
    assert.equal(launch(launcher, args, env).argv.slice(0, 2), [`--v8-pool-size=${pool}`, join(root, 'host', 'bin', 'ts86.mjs')], args.join(' '));
  withSnapshotTree(`${fakeStat.size} ${Math.floor(fakeStat.mtimeMs / 1000) + 1}`, (l, root) => onMjs(l, root, ['--help']));
  withSnapshotTree(`${FAKE_ID} none`, (l, root) => onMjs(l, root, ['--help']));
  withSnapshotTree(FAKE_ID, (l, root) => {
    onMjs(l, root, ['--help'], { NODE_OPTIONS: '--max-old-space-size=4096' });
    onMjs(l, root, ['serve', '--port', '0']);
    onMjs(l, root, ['switch']);
  });
});

test.after(() => rmSync(FAKE, { recursive: true, force: true }));

test.run();
