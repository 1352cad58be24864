/**
 * A guest in Node on a `ts86 switch`, for the page's switch test: boots the default guest with its
 * card on the switch (data path inline, realtime clock, as a person runs it) and runs one command
 * the way `ts86 --run` does. Prints the command's output and exits with its status.
 *
 *   node --import tsx tests/web/node-guest.ts ws://HOST:PORT 'COMMAND'
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Machine } from '../../host/machine.js';
import { RunSession } from '../../host/main.js';
import { createNetBackend, defaultNetOptions } from '../../host/net/index.js';
import { defaultGuest } from '../linux/guest.js';

// Only as a program (uvu, given the folder, imports every file in it).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [url, command] = process.argv.slice(2);
  if (!url || command === undefined) { console.error('usage: node-guest.ts ws://HOST:PORT COMMAND'); process.exit(2); }
  const g = await defaultGuest();
  const backend = await createNetBackend({ ...defaultNetOptions(), net: url });
  let session: RunSession | null = null;
  const m = new Machine({
    kernel: new Uint8Array(readFileSync(g.kernel)), initrd: new Uint8Array(readFileSync(g.initrd)),
    virtioNet: { placement: 'inline', backend }, onSerial: (b) => session!.feed(b),
  });
  session = new RunSession(command, (s) => m.serialInput(new TextEncoder().encode(s)));
  const tick = (): void => {
    const start = performance.now();
    while (performance.now() - start < 15) {
      const r = m.runSlice(100_000);
      if (session!.done) { process.stdout.write(session!.output); backend.close(); process.exit(session!.status); }
      if (r === 'shutdown') { console.error(`node guest: ${m.shutdownReason}`); process.exit(1); }
      if (r === 'idle') { setTimeout(tick, Math.max(1, Math.min(10, (m.clock.nextDeadline() - m.clock.now()) / 1e6))); return; }
    }
    // Yield so the switch's frames come in.
    setImmediate(tick);
  };
  tick();
}
