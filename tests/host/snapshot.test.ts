// The CLI's startup snapshot (dist/ts86.blob): built for the node that runs the build, used by the
// `ts86` command, running kernels as the ES module CLI does, and rebuilt when a source changes.
// The truth is the ES module CLI (host/bin/ts86.mjs) run on the same kernel, and /proc for what
// node was started on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, dataFile, pattern, ROOT, TS86 } from '../baremetal/harness.js';

const BLOB = join(ROOT, 'dist', 'ts86.blob');
const ESM = join(ROOT, 'host', 'bin', 'ts86.mjs');
const env = { ...process.env };
delete env.NODE_OPTIONS;
delete env.NODE_EXTRA_CA_CERTS;
const run = (args: string[], cwd = ROOT) => spawnSync(process.execPath, args, { cwd, env, encoding: 'latin1', timeout: 120_000 });

// Builds what is stale (the bundles, then the snapshot) the way a user's first start does.
const first = spawnSync(TS86, ['--help'], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });

test('the build names this node beside the snapshot, by size and time as the launcher reads them', () => {
  assert.is(first.status, 0, first.stderr);
  const st = statSync(process.execPath);
  assert.is(readFileSync(`${BLOB}.node`, 'utf8'), `${st.size} ${Math.floor(st.mtimeMs / 1000)}\n${realpathSync(ROOT)}\n`);
  assert.ok(statSync(BLOB).size > 1_000_000, 'the blob holds the evaluated bundle');
});

test('`ts86` starts node on the snapshot', async () => {
  const child = spawn(TS86, ['--kernel', build('chatter', 'flat'), '--clock', 'virtual'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The launcher execs node: once the guest prints, the process is node.
  await new Promise((res) => child.stdout.once('data', res));
  const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
  child.kill('SIGKILL');
  assert.equal(argv.slice(argv.indexOf('--snapshot-blob'), argv.indexOf('--snapshot-blob') + 3), ['--snapshot-blob', BLOB, '--']);
});

test('a Multiboot kernel with a module and a command line: the snapshot gives what the ES module CLI gives', () => {
  const kernel = build('mbinfo', 'elf');
  const mod = dataFile('snapshot-mod.bin', pattern(5000, 7));
  const args = ['--kernel', kernel, '--initrd', `${mod} mod args`, '--append', 'a "b c"', '-m', '64'];
  const esm = run(['--v8-pool-size=1', ESM, ...args]);
  const snap = run(['--v8-pool-size=1', '--snapshot-blob', BLOB, '--', ...args]);
  assert.is(esm.status, 0x41, esm.stderr);
  assert.match(esm.stdout, /mod args/);
  assert.is(snap.stdout, esm.stdout);
  assert.is(snap.stderr, esm.stderr);
  assert.is(snap.status, esm.status);
});

test('bad input from the snapshot: one line, status 2, as from the ES module CLI', () => {
  const esm = run([ESM, '--kernel', '/nonexistent/vmlinux']);
  const snap = run(['--snapshot-blob', BLOB, '--', '--kernel', '/nonexistent/vmlinux']);
  assert.is(esm.status, 2);
  assert.is(snap.status, esm.status);
  assert.is(snap.stderr, esm.stderr);
});

test('a moved tree, then a changed source: the CLI rebuilds the snapshot each time and runs the current code', async () => {
  // A copy of the tree, so the real one's build is left alone.
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'ts86-snapshot-')));
  try {
    for (const d of ['cpu', 'bus', 'irqchip', 'devices', 'firmware', 'channels', 'host', 'scripts', 'dist', 'package.json']) {
      cpSync(join(ROOT, d), join(dir, d), { recursive: true, preserveTimestamps: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const blob = join(dir, 'dist', 'ts86.blob');
    const help = () => run(['--snapshot-blob', blob, '--', '--help'], dir);
    // The copied snapshot's paths point into ROOT: rebuilt for the copy, and the child's message
    // and status come through.
    let r = run(['--snapshot-blob', blob, '--', '--no-such-option'], dir);
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, /^ts86: unknown option --no-such-option/);
    assert.match(readFileSync(`${blob}.node`, 'utf8'), new RegExp(`\n${dir}\n$`), 'rebuilt for the copy');
    r = help();
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: ts86 \[options\]\n/);
    const cli = join(dir, 'host', 'cli.ts');
    writeFileSync(cli, readFileSync(cli, 'utf8').replace('usage: ts86 [options]', 'usage: ts86 [options] (changed)'));
    const before = statSync(blob).mtimeMs;
    const later = new Date(before + 1);
    utimesSync(cli, later, later);
    r = help();
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: ts86 \[options\] \(changed\)/);
    const rebuilt = statSync(blob).mtimeMs;
    assert.ok(rebuilt > before, 'the snapshot was rebuilt');
    r = help();
    assert.match(r.stdout, /^usage: ts86 \[options\] \(changed\)/, 'the new snapshot holds the change');
    assert.is(statSync(blob).mtimeMs, rebuilt, 'and runs without a rebuild');
    // Stale again, a guest that runs until killed: SIGKILL to the snapshot's process (as the bench
    // ends a boot) takes the rebuilt CLI in its child down too, so the caller's pipe closes.
    const later2 = new Date(rebuilt + 1);
    utimesSync(cli, later2, later2);
    const child = spawn(process.execPath, ['--snapshot-blob', blob, '--', '--kernel', build('chatter', 'flat'), '--clock', 'virtual'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise((res) => child.stdout.once('data', res));
    const closed = new Promise<boolean>((res) => { child.on('close', () => res(true)); setTimeout(() => res(false), 15_000); });
    child.kill('SIGKILL');
    child.stdout.resume();
    assert.ok(await closed, 'the rebuilt CLI went with the process that started it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
