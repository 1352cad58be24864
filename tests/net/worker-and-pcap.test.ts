// The network inside a worker thread (as the virtio-net data path runs it), and --pcap capture read
// back by tcpdump, including from a process killed mid-run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { tsWorker } from '../channels/ts-worker.js';
import { createNetBackend, defaultNetOptions } from '../../host/net/index.js';
import { GUEST_MAC, arpRequest, guestIp, icmpEcho, tcp, udp, TCP, tcpdumpFile } from './frames.js';

const dir = mkdtempSync(join(tmpdir(), 'ts86-pcap-'));

test('the user network in a worker thread: ARP, ping, DNS through the host resolver, TCP to a host server; --pcap from there', async () => {
  const srv = createServer((s) => { s.on('error', () => {}); s.end('hi'); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  const pcap = join(dir, 'worker.pcap');
  const w = tsWorker(new URL('./worker-network.ts', import.meta.url), { ...defaultNetOptions(), pcap });
  const got: Uint8Array[] = [];
  let wake = () => {};
  w.on('message', (m: Uint8Array | 'ready') => { if (m !== 'ready') got.push(m); wake(); });
  const next = (n: number) => new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`worker sent ${got.length} frames, waiting for ${n}`)), 10_000);
    wake = () => { if (got.length >= n) { clearTimeout(t); res(); } };
  });
  await new Promise((r) => w.once('message', r));
  w.postMessage(arpRequest(GUEST_MAC, '10.0.2.15', '10.0.2.2'));
  w.postMessage(guestIp('10.0.2.15', '10.0.2.2', 1, icmpEcho(1, 1, [1, 2, 3, 4])));
  const q = [0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, ...Buffer.from('localhost'), 0, 0, 1, 0, 1];
  w.postMessage(guestIp('10.0.2.15', '10.0.2.3', 17, udp('10.0.2.15', 999, '10.0.2.3', 53, q)));
  w.postMessage(guestIp('10.0.2.15', '10.0.2.2', 6, tcp('10.0.2.15', 5000, '10.0.2.2', port, 1, 0, TCP.SYN)));
  await next(4);
  w.postMessage('close');
  await new Promise((r) => w.once('exit', r));
  srv.close();
  const lines = tcpdumpFile(pcap);
  const text = lines.join('\n');
  assert.match(text, /ethertype ARP .*Reply 10\.0\.2\.2 is-at 52:55:0a:00:02:02/);
  assert.match(text, /10\.0\.2\.2 > 10\.0\.2\.15: ICMP echo reply, id 1, seq 1/);
  assert.match(text, /10\.0\.2\.3\.53 > 10\.0\.2\.15\.999: \[udp sum ok\] 9 q: A\? localhost\. 1\/0\/0 localhost\. A 127\.0\.0\.1/);
  assert.match(text, new RegExp(`10\\.0\\.2\\.2\\.${port} > 10\\.0\\.2\\.15\\.5000: Flags \\[S\\.\\], cksum 0x[0-9a-f]+ \\(correct\\)`));
  assert.is(lines.filter((l) => l.startsWith('52:54:00:12:34:56 >')).length, 4, 'the four frames from the guest are in the capture too');
});

test('--pcap: the file is complete when the process is killed (SIGKILL, no exit handlers run)', () => {
  const pcap = join(dir, 'killed.pcap');
  const script = `
    import { createNetBackend } from './host/net/index.ts';
    import { guestIp, icmpEcho } from './tests/net/frames.ts';
    const net = await createNetBackend({ net: 'user', hostfwd: [], pcap: ${JSON.stringify(pcap)} });
    net.onReceive = () => {};
    for (let i = 0; i < 500; i++) net.send(guestIp('10.0.2.15', '10.0.2.2', 1, icmpEcho(7, i, [i & 255])));
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
  assert.is(r.signal, 'SIGKILL', r.stderr);
  const lines = tcpdumpFile(pcap);
  assert.is(lines.length, 1000, '500 requests and 500 replies');
  assert.match(lines[999]!, /ICMP echo reply, id 7, seq 499, length 9/);
  // The file header per the libpcap format: magic, version 2.4, snaplen, LINKTYPE_ETHERNET.
  const h = readFileSync(pcap).subarray(0, 24);
  const dv = new DataView(h.buffer, h.byteOffset, 24);
  assert.is(dv.getUint32(0, true), 0xa1b2c3d4);
  assert.is(dv.getUint16(4, true), 2); assert.is(dv.getUint16(6, true), 4);
  assert.is(dv.getUint32(20, true), 1);
});

test('createNetBackend: a busy --hostfwd port, an unwritable capture, an unreachable switch: one readable line each', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  const port = (busy.address() as { port: number }).port;
  const fails = async (o: Parameters<typeof createNetBackend>[0], re: RegExp) => {
    try { (await createNetBackend(o)).close(); assert.unreachable('should fail'); } catch (e) { assert.match((e as Error).message, re); assert.not.match((e as Error).message, /\n/); }
  };
  await fails({ net: 'user', hostfwd: [{ hostAddr: '127.0.0.1', hostPort: port, guestAddr: '10.0.2.15', guestPort: 22 }] }, /^--hostfwd: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE$/);
  await fails({ net: 'user', hostfwd: [], pcap: join(dir, 'no/such/dir/x.pcap') }, /^--pcap .*x\.pcap: ENOENT/);
  busy.close();
  await new Promise((r) => busy.once('close', r));
  await fails({ net: `ws://127.0.0.1:${port}`, hostfwd: [] }, new RegExp(`^cannot reach the switch at ws://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  rmSync(dir, { recursive: true, force: true });
});

test.run();
