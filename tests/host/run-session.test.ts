// `ts86 --run`'s conversation with the guest shell, fed byte by byte as the UART delivers it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RunSession, READY_LINE } from '../../host/main.js';

const feed = (s: RunSession, text: string) => { for (const c of text) s.feed(c.charCodeAt(0)); };

test('waits for the ready line, quiets the shell, runs the command and returns its output and status', () => {
  const sent: string[] = [];
  const s = new RunSession('echo hi; exit 3', (x) => sent.push(x));
  feed(s, '[    0.1] booting\r\nts86-guest: rea');
  assert.is(sent.length, 0, 'no ready line yet');
  // The ready line may end a line that other output started.
  feed(s, `dy\r\nnoise ${READY_LINE}\n`);
  assert.is(sent.length, 1);
  assert.match(sent[0]!, /stty -echo/);
  // The shell echoes the quieting command before running it: its arithmetic keeps it from matching.
  feed(s, `${sent[0]}/ # __TS86_42_QUIET\n`);
  assert.is(sent.length, 2);
  assert.match(sent[1]!, /echo hi; exit 3/);
  feed(s, 'hi\nnot a marker: __TS86_42_RC_9\n');
  assert.not.ok(s.done, 'a marker inside a line does not end the run');
  assert.is(s.partialOutput, 'hi\nnot a marker: __TS86_42_RC_9\n');
  feed(s, '__TS86_42_RC_3\n');
  assert.ok(s.done);
  assert.is(s.output, 'hi\nnot a marker: __TS86_42_RC_9\n');
  assert.is(s.status, 3);
});

test('a command with no output', () => {
  const sent: string[] = [];
  const s = new RunSession('true', (x) => sent.push(x));
  feed(s, `${READY_LINE}\n__TS86_42_QUIET\n__TS86_42_RC_0\n`);
  assert.ok(s.done);
  assert.is(s.output, '');
  assert.is(s.status, 0);
});

test.run();
