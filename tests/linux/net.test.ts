/**
 * The host network behind the real guest: udhcpc's lease, wget from a host HTTP server through
 * 10.0.2.2 and DNS at 10.0.2.3, --hostfwd into busybox httpd in the guest, and two guests on one
 * `ts86 switch` pinging each other. Host sockets are real, so these run on the realtime clock with
 * the data path inline, yielding to the event loop between slices (as the CLI's loop does).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { ensurePackages } from '../../scripts/deps.mjs';
import { CLI, ROOT, defaultGuest, runCli } from './guest.js';
import { tcpdumpFile } from '../net/frames.js';
import { freePort } from '../net/ports.js';
import { Machine } from '../../host/machine.js';
import { RunSession } from '../../host/main.js';
import type { NetBackend } from '../../devices/net-backend.js';
import { UserNetwork } from '../../host/net/user-network.js';
import { nodeProvider } from '../../host/net/node-provider.js';
import { EthernetSwitch } from '../../host/net/switch.js';
import { WsBackend, type WebSocketCtor } from '../../host/net/ws-client.js';

const tick = () => new Promise((r) => setImmediate(r));

/**
 * Boots the default guest on `backend` and runs `command` as `ts86 --run` does; `onLine` sees each
 * serial line. Guests in one `group` keep running until every one has finished its command, so
 * none stops answering its peer.
 */
async function runGuest(command: string, backend: NetBackend, opts: { onLine?: (line: string, m: Machine) => void; wallSeconds?: number; group?: { size: number; done: number } } = {}): Promise<{ output: string; status: number }> {
  const g = await defaultGuest();
  let line = '';
  let session: RunSession | null = null;
  const m: Machine = new Machine({
    clock: 'realtime',
    kernel: new Uint8Array(readFileSync(g.kernel)),
    initrd: new Uint8Array(readFileSync(g.initrd)),
    virtioNet: { placement: 'inline', backend },
    onSerial: (b) => {
      session!.feed(b);
      if (b === 13) return;
      if (b !== 10) { line += String.fromCharCode(b); return; }
      opts.onLine?.(line, m);
      line = '';
    },
  });
  session = new RunSession(command, (s) => m.serialInput(new TextEncoder().encode(s)));
  const deadline = Date.now() + (opts.wallSeconds ?? 120) * 1000;
  const group = opts.group ?? { size: 1, done: 0 };
  let counted = false;
  while (!session.done || group.done < group.size) {
    if (session.done && !counted) { counted = true; group.done++; }
    const r = m.runSlice(100_000);
    if (r === 'shutdown') throw new Error(`guest stopped: ${m.shutdownReason}`);
    if (Date.now() > deadline) throw new Error(`command unfinished; output so far:\n${session.partialOutput}`);
    // Host sockets make progress only when the event loop turns: every slice, and while halted.
    if (r === 'idle') await new Promise((res) => setTimeout(res, 1)); else await tick();
  }
  return { output: session.output, status: session.status };
}

function listen(s: Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
}

test('udhcpc in the guest gets 10.0.2.15 with router 10.0.2.2, DNS 10.0.2.3, mask and lease', async () => {
  const net = new UserNetwork();
  const script = `printf '#!/bin/sh\\necho "udhcpc $1 ip=$ip router=$router dns=$dns mask=$subnet lease=$lease"\\n' > /tmp/s; chmod +x /tmp/s; udhcpc -i eth0 -n -q -f -s /tmp/s`;
  const r = await runGuest(script, net);
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /udhcpc bound ip=10\.0\.2\.15 router=10\.0\.2\.2 dns=10\.0\.2\.3 mask=255\.255\.255\.0 lease=86400/);
  assert.is(net.stats.dhcpReplies, 2, 'offer and ack');
  net.close();
});

test('wget in the guest fetches a file from a host HTTP server at 10.0.2.2 (and by name through DNS at 10.0.2.3)', async () => {
  const body = randomBytes(300_000);
  const md5 = createHash('md5').update(body).digest('hex');
  const srv = createServer((req, res) => { res.setHeader('content-length', body.length); res.end(body); });
  const port = await listen(srv);
  const net = new UserNetwork({ provider: nodeProvider });
  const r = await runGuest(`wget -q -O - http://10.0.2.2:${port}/blob | md5sum; nslookup localhost 10.0.2.3`, net);
  assert.is(r.status, 0, r.output);
  assert.match(r.output, new RegExp(`^${md5}  -$`, 'm'));
  assert.match(r.output, /Address:? +127\.0\.0\.1/);
  assert.is(net.stats.internalErrors, 0);
  net.close(); srv.close();
});

test('--hostfwd: a host client reaches a server in the guest (busybox nc) and data flows both ways', async () => {
  const hostPort = await freePort();
  const net = new UserNetwork({ provider: nodeProvider });
  await net.start([{ hostAddr: '127.0.0.1', hostPort, guestAddr: '10.0.2.15', guestPort: 8080 }]);
  // The guest prints a mark, then listens; the host connects (retrying until nc listens), sends a
  // request line, reads the answer and closes, which ends nc.
  let answer: Promise<string> | null = null;
  const client = async (): Promise<string> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise<string>((resolve, reject) => {
          const s = connect(hostPort, '127.0.0.1');
          let got = '';
          s.on('data', (d) => { got += d; if (got.includes('hello-from-the-guest\n')) s.end(); });
          s.on('error', reject);
          s.on('close', () => (got ? resolve(got) : reject(new Error('closed without an answer'))));
          s.write('GET / HTTP/1.0\r\n\r\n');
        });
      } catch (e) { if (attempt > 200) throw e; await new Promise((r) => setTimeout(r, 100)); }
    }
  };
  const r = await runGuest("echo NC_$((1+1))_UP; printf 'HTTP/1.0 200 OK\\r\\n\\r\\nhello-from-the-guest\\n' | nc -l -p 8080", net, {
    onLine: (l) => { if (l === 'NC_2_UP') answer = client(); },
  });
  assert.is(r.status, 0, r.output);
  assert.match(r.output, /^GET \/ HTTP\/1\.0\r?$/m, 'the request reached the guest');
  assert.ok(answer, r.output);
  assert.is(await answer!, 'HTTP/1.0 200 OK\r\n\r\nhello-from-the-guest\n');
  net.close();
});

test('two guests on one ts86 switch ping each other with 0% loss', async () => {
  const sw = await EthernetSwitch.start({ port: 0, log: () => {} });
  const url = `ws://127.0.0.1:${sw.port}`;
  const WS = WebSocket as unknown as WebSocketCtor;
  const [a, b] = await Promise.all([WsBackend.connect(url, WS), WsBackend.connect(url, WS)]);
  // Both cards carry QEMU's default MAC: the second guest takes another MAC and address first.
  const wait = (peer: string) => `until ping -c 1 -W 1 ${peer} >/dev/null; do :; done; ping -c 20 ${peer}`;
  const group = { size: 2, done: 0 };
  const [r1, r2] = await Promise.all([
    runGuest(wait('10.0.2.16'), a, { wallSeconds: 180, group }),
    runGuest(`ip link set eth0 address 52:54:00:12:34:57 && ip addr flush dev eth0 && ip addr add 10.0.2.16/24 dev eth0 && ${wait('10.0.2.15')}`, b, { wallSeconds: 180, group }),
  ]);
  for (const r of [r1, r2]) {
    assert.is(r.status, 0, r.output);
    assert.match(r.output, /20 packets transmitted, 20 packets received, 0% packet loss/, r.output);
  }
  assert.match(r1.output, /bytes from 10\.0\.2\.16/);
  assert.match(r2.output, /bytes from 10\.0\.2\.15/);
  a.close(); b.close();
  await sw.close();
});

test('a v86 guest whose relay URL is the switch and a ts86 guest ping each other', async () => {
  ensurePackages(['seabios'], 'the v86 interoperability test');
  const { V86 } = await import('v86');
  const g = await defaultGuest();
  const sw = await EthernetSwitch.start({ port: 0, log: () => {} });
  const url = `ws://127.0.0.1:${sw.port}/`;
  // v86's relay client uses the browser's WebSocket; Node 20 has none, ws stands in.
  const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = WebSocket;
  const file = (p: string) => { const b = readFileSync(p); return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) }; };
  const v86 = new V86({
    wasm_path: join(dirname(createRequire(import.meta.url).resolve('v86')), 'v86.wasm'),
    bios: file('/usr/share/seabios/bios.bin'), vga_bios: file('/usr/share/seabios/vgabios-stdvga.bin'),
    bzimage: file(g.bzImage), initrd: file(g.initrd), cmdline: 'console=ttyS0', // v86 has no PVH loader
    memory_size: 128 << 20, autostart: true, log_level: 0,
    disable_keyboard: true, disable_mouse: true, disable_speaker: true,
    net_device: { type: 'virtio', relay_url: url },
  } as ConstructorParameters<typeof V86>[0]);
  const group = { size: 2, done: 0 };
  let v86Out = '';
  const v86Done = new Promise<void>((resolve) => {
    let sent = false;
    v86.add_listener('serial0-output-byte', (b: number) => {
      if (b === 13) return;
      v86Out += String.fromCharCode(b);
      if (!sent && v86Out.includes('ts86-guest: ready\n')) {
        sent = true;
        v86.serial0_send(`ip addr flush dev eth0 && ip addr add 10.0.2.16/24 dev eth0 && until ping -c 1 -W 1 10.0.2.15 >/dev/null; do :; done; ping -c 10 10.0.2.15; echo V86_$((1+1))_DONE\n`);
      }
      if (v86Out.endsWith('V86_2_DONE\n')) { group.done++; resolve(); }
    });
  });
  try {
    const ts86 = await WsBackend.connect(url.replace(/\/$/, ''), WebSocket as unknown as WebSocketCtor);
    const r = await runGuest('until ping -c 1 -W 1 10.0.2.16 >/dev/null; do :; done; ping -c 10 10.0.2.16', ts86, { wallSeconds: 240, group })
      .catch((e: Error) => { throw new Error(`${e.message}\nv86 console:\n${v86Out.slice(-1500)}\nswitch: ${JSON.stringify(sw.portList)}`); });
    await v86Done;
    ts86.close();
    assert.is(r.status, 0, r.output);
    assert.match(r.output, /10 packets transmitted, 10 packets received, 0% packet loss/, r.output);
    assert.match(v86Out, /10 packets transmitted, 10 packets received, 0% packet loss/, v86Out.slice(-2000));
  } finally {
    await v86.destroy();
    (globalThis as { WebSocket?: unknown }).WebSocket = saved;
    await sw.close();
  }
});

test('the CLI, data path in its worker: wget from the host with --pcap (read back by tcpdump); an unreachable switch is one line, status 2', async () => {
  const body = randomBytes(100_000);
  const md5 = createHash('md5').update(body).digest('hex');
  const srv = createServer((req, res) => { res.setHeader('content-length', body.length); res.end(body); });
  const port = await listen(srv);
  const dir = mkdtempSync(join(tmpdir(), 'ts86-cli-net-'));
  const pcap = join(dir, 'guest.pcap');
  const r = await runCli(['--pcap', pcap, '--run', `wget -q -O - http://10.0.2.2:${port}/ | md5sum`]);
  srv.close();
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), `${md5}  -`);
  const lines = tcpdumpFile(pcap);
  assert.ok(lines.some((l) => new RegExp(`10\\.0\\.2\\.15\\.\\d+ > 10\\.0\\.2\\.2\\.${port}: Flags \\[S\\]`).test(l)), 'the SYN is in the capture');
  assert.ok(lines.filter((l) => /length 1460/.test(l)).length >= 60, 'the data came in full-sized segments');
  for (const l of lines) assert.not.match(l, /incorrect|bad cksum/);
  rmSync(dir, { recursive: true, force: true });
  for (const model of ['worker', 'inline']) {
    const e = await runCli(['--device-model', model, '--net', `ws://127.0.0.1:${port}`, '--run', 'true']);
    assert.is(e.status, 2, `${model}: ${e.stderr}`);
    assert.match(e.stderr, new RegExp(`^ts86: cannot reach the switch at ws://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED[^\\n]*\\n$`));
  }
});

test('ts86 switch --nat as its own process: a CLI guest on it pings the gateway; Ctrl-C stops the switch cleanly', async () => {
  const sw = spawn(CLI, ['switch', '--port', '0', '--nat'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sw.stderr.setEncoding('utf8').on('data', (d: string) => { log += d; });
  const end = Date.now() + 60_000;
  while (!/listening on ws:\/\/127\.0\.0\.1:(\d+)\//.test(log)) {
    if (Date.now() > end || sw.exitCode !== null) throw new Error(`switch did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(log)![1];
  const r = await runCli(['--net', `ws://127.0.0.1:${port}`, '--run', 'udhcpc -i eth0 -n -q -s true >/dev/null 2>&1; ping -c 5 10.0.2.2']);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /5 packets transmitted, 5 packets received, 0% packet loss/);
  const exited = new Promise((res) => sw.once('exit', (code) => res(code)));
  sw.kill('SIGINT');
  assert.is(await exited, 0);
  assert.match(log, /port 2 \(127\.0\.0\.1:\d+\) left: \d+ frames in, \d+ out, dropped 0 \(queue full\) 0 \(junk\)/);
});

test.run();
