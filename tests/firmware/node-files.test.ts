// Reading boot files: one clear message for each way a path can be unusable.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readBootFile } from '../../firmware/node-files.js';

const dir = mkdtempSync(join(tmpdir(), 'ts86-files-'));
const message = (f: () => unknown) => { try { f(); } catch (e) { return (e as Error).message; } return 'no error'; };

test('reads a file', () => {
  writeFileSync(join(dir, 'k'), Buffer.from([1, 2, 3]));
  assert.equal([...readBootFile(join(dir, 'k'), 'kernel')], [1, 2, 3]);
});

test('missing, directory, too large', () => {
  assert.is(message(() => readBootFile(join(dir, 'nope'), 'kernel')), `cannot read kernel ${join(dir, 'nope')}: no such file`);
  assert.is(message(() => readBootFile(dir, 'initrd')), `initrd ${dir} is not a regular file`);
  assert.match(message(() => readBootFile(join(dir, 'k'), 'initrd', 2)), /is 3 bytes, larger than RAM/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
