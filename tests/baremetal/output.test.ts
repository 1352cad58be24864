// When ts86's output goes away: a reader that closes the pipe (`ts86 | head`) ends the run quietly
// with status 141, what a shell reports for a program SIGPIPE ended; output that cannot be written
// (a full device) ends it with one line on stderr and status 1. Neither leaves a stack trace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { build, ROOT, TS86 } from './harness.js';

const CHATTER = build('chatter', 'flat');
const ARGS = ['--kernel', CHATTER, '--clock', 'virtual'];

test('a reader that closes the output pipe ends the run: status 141, nothing on stderr', async () => {
  const child = spawn(TS86, ARGS, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', first = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.stdout.setEncoding('latin1').once('data', (d: string) => { first = d; child.stdout.destroy(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [status, signal] = await new Promise<[number | null, string | null]>((res) => child.on('exit', (c, s) => res([c, s])));
  clearTimeout(timer);
  assert.match(first, /^line 00000000\n/, 'the guest ran and its output arrived');
  assert.is(signal, null, 'ts86 ended by itself');
  assert.is(status, 141);
  assert.is(stderr, '');
});

test('output to a full device: one line naming the error, status 1', () => {
  const full = openSync('/dev/full', 'w');
  try {
    const r = spawnSync(TS86, ARGS, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', full, 'pipe'] });
    assert.is(r.signal, null, 'ts86 ended by itself');
    assert.match(r.stderr, /^ts86: cannot write the guest's output: ENOSPC[^\n]*\n$/);
    assert.is(r.status, 1);
  } finally {
    closeSync(full);
  }
});

test.run();
