// The browser page in real headless Chromium (Debian's `chromium`, driven by playwright-core):
// `ts86 serve` serves it cross-origin isolated, it boots the default guest to a shell at once, a
// command typed into the terminal runs in the guest and its output appears in the DOM, the guest
// pings the user-mode network's gateway inside the page, the status shows the CPU's speed, the
// interrupts the guest takes and its packets, pause/resume and reset work, every failure gets its
// message, a guest in the page and one in Node ping each other across a `ts86 switch`, and the
// page also boots (and pings) without cross-origin isolation.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CLI, ROOT, defaultGuest, runCli } from '../linux/guest.js';
import { assemble } from '../system/harness.js';
import { startPageServer } from '../../host/serve.js';
import { detectKernel } from '../../firmware/index.js';
import type { Server } from 'node:http';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'dist', 'screenshots', 'page.png');
/** Wall-clock limits: generous, as the 2 shared cores may be busy with other tests. */
const BOOT_MS = 240_000, COMMAND_MS = 60_000;

let serve: ChildProcess | null = null;
let url = '';
let browser: Browser | null = null;
let page: Page;

/** `ts86 serve --port 0` as a user starts it; resolves with the URL it prints. */
function startServe(): Promise<string> {
  return new Promise((resolve, reject) => {
    serve = spawn(CLI, ['serve', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    serve.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /open (http:\/\/localhost:\d+\/)/.exec(out);
      if (m) resolve(m[1]!);
    });
    serve.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    serve.on('close', (code) => reject(new Error(`ts86 serve exited (${code}) before printing a URL:\n${err}`)));
  });
}

/** The terminal's text as the DOM holds it (the rows the renderer shows). */
const screenText = (p: Page) => p.evaluate(() =>
  [...document.querySelectorAll('.xterm-rows > div')].map((d) => d.textContent ?? '').join('\n').replace(/\u00a0/g, ' '));

async function waitForScreen(p: Page, re: RegExp, timeout = COMMAND_MS): Promise<string> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const text = await screenText(p);
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`no ${re} on the terminal within ${timeout / 1000} s; it shows:\n${text}`);
    await p.waitForTimeout(200);
  }
}

/** Waits for the shell, sampling the MIPS figure while the guest boots; returns the largest seen. */
async function waitForShell(p: Page): Promise<number> {
  const deadline = Date.now() + BOOT_MS;
  let mips = 0;
  for (;;) {
    const [stage, figure, message] = await Promise.all([p.textContent('#stage'), p.textContent('#mips'), p.textContent('#message')]);
    mips = Math.max(mips, Number.parseFloat(figure ?? '') || 0);
    if (stage?.startsWith('Shell ready')) return mips;
    if (/Stopped|Not booted/.test(stage ?? '') || Date.now() > deadline) {
      throw new Error(`the guest did not reach its shell (stage "${stage}", message "${message}"); terminal:\n${await screenText(p)}`);
    }
    await p.waitForTimeout(100);
  }
}

/** The shell's prompt on the last line: typed input now goes to the shell, not to the boot. */
const waitForPrompt = (p: Page) => waitForScreen(p, /^\/ # *$/m);

async function newPage(): Promise<Page> {
  const p = await browser!.newPage({ viewport: { width: 1100, height: 720 } });
  p.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  return p;
}

/** Why the firmware refuses `image` as a kernel. */
function notAKernel(image: Uint8Array): string {
  try { detectKernel(image); } catch (e) { return (e as Error).message; }
  throw new Error('the image is a kernel');
}

test.before(async () => {
  await defaultGuest();
  url = await startServe();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await newPage();
});

test.after(async () => {
  await browser?.close();
  serve?.kill();
});

test('serve: bad options get one line and status 2', async () => {
  const r = await runCli(['serve', '--port', 'x']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /^ts86: serve: --port x: give a port number from 0 to 65535\n$/);
  const u = await runCli(['serve', '--bogus']);
  assert.is(u.status, 2);
  assert.match(u.stderr, /unknown option --bogus/);
});

test('serve: the page and the guest, with the cross-origin isolation headers', async () => {
  const g = await defaultGuest();
  for (const [path, size] of [['', 0], ['guest/kernel', statSync(g.kernel).size], ['guest/initrd', statSync(g.initrd).size]] as const) {
    const res = await fetch(url + path);
    assert.is(res.status, 200, path);
    assert.is(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.is(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const body = new Uint8Array(await res.arrayBuffer());
    if (size) assert.is(body.length, size, `${path} is served whole`);
  }
  assert.is((await fetch(url + 'guest/other')).status, 404);
  assert.is((await fetch(url + '..%2Fpackage.json')).status, 404);
});

test('the page boots the default guest at once; a typed command runs; the status shows MIPS', async () => {
  await page.goto(url);
  // The keyboard goes to the terminal from the start.
  assert.ok(await page.evaluate(() => document.activeElement?.closest('.xterm') !== null), 'the terminal has the focus');
  const mips = await waitForShell(page);
  assert.ok(mips > 0, `a non-zero MIPS figure while booting (saw ${mips})`);
  assert.ok(await page.evaluate(() => crossOriginIsolated), 'cross-origin isolated under ts86 serve');
  assert.match(await page.textContent('#ram') ?? '', /128 MiB, SharedArrayBuffer/);
  assert.ok(await page.isHidden('#message'), 'no warning when isolated');
  // The shell computes the answer: the typed line itself shows $((6*7)), only the output shows 42.
  await waitForPrompt(page);
  await page.keyboard.type('echo ts86-page-$((6*7)); uname -m\n');
  const text = await waitForScreen(page, /^ts86-page-42\ni686$/m);
  assert.match(text, /ts86-guest: ready/);
  // The output reaches the screen-reader tree too (what assistive technology reads).
  await page.waitForFunction(() => /ts86-page-42/.test(document.querySelector('.xterm-accessibility-tree')?.textContent ?? ''), null, { timeout: COMMAND_MS });
  // The guest's serial interrupts (IO-APIC pin 4, as its /proc/interrupts says) and its LAPIC timer.
  await page.keyboard.type('grep -E "ttyS0|LOC" /proc/interrupts\n');
  await waitForScreen(page, /IO-APIC\s+4-edge\s+ttyS0/);
  await page.waitForFunction(() => /serial \d+/.test(document.querySelector('#irqs')?.textContent ?? ''), null, { timeout: COMMAND_MS });
  // The user-mode network runs inside the page: the guest pings its gateway through the NIC.
  // Its card interrupts through MSI-X, as the guest's /proc/interrupts says and the status shows.
  const msix = page.waitForFunction(() => /net \(MSI-X\) \d+/.test(document.querySelector('#irqs')?.textContent ?? ''), null, { timeout: COMMAND_MS, polling: 50 }).then(() => true, () => false);
  await page.keyboard.type('ping -c 3 10.0.2.2; grep -c PCI-MSI.*virtio0-input /proc/interrupts\n');
  await waitForScreen(page, /3 packets transmitted, 3 packets received, 0% packet loss/, COMMAND_MS);
  await waitForScreen(page, /^[1-9]$/m);
  assert.ok(await msix, `the status named the card's MSI-X interrupts (it shows: ${await page.textContent('#irqs')})`);
  await page.waitForFunction(() => /packets in [1-9]\d* .*out [1-9]/.test(document.querySelector('#net')?.textContent ?? ''), null, { timeout: COMMAND_MS });
  // Cross-origin isolated: the card's data path runs in the device-model worker over shared RAM.
  assert.match(await page.textContent('#net') ?? '', /data path in its own worker/);
  mkdirSync(join(ROOT, 'dist', 'screenshots'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });
  const png = readFileSync(SCREENSHOT);
  assert.equal([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG file');
  assert.ok(png.length > 10_000, 'a screenshot with content');
});

test('pause stops the guest, resume continues it', async () => {
  await page.click('#pause');
  assert.is(await page.textContent('#pause'), 'Resume');
  assert.is(await page.textContent('#mips'), 'paused');
  await page.keyboard.type('echo after-$((40+2))-resume\n');
  await page.waitForTimeout(1500);
  assert.not.match(await screenText(page), /after-42-resume/, 'a paused guest runs nothing');
  await page.click('#pause');
  await waitForScreen(page, /^after-42-resume$/m);
});

test('reset boots the guest again from the start', async () => {
  await page.click('#reset');
  await waitForShell(page);
  const text = await waitForPrompt(page);
  assert.not.match(text, /after-42-resume/, 'the terminal starts afresh');
  await page.keyboard.type('echo reset-$((6*7))\n');
  await waitForScreen(page, /^reset-42$/m);
});

test('failures: a bad or unreachable network, image not found, not a kernel, a guest triple fault', async () => {
  const p = await newPage();
  await p.goto(`${url}?net=ftp://example`);
  await p.waitForSelector('#message:not([hidden])');
  assert.is(await p.textContent('#message'), 'net=ftp://example: use "user" or a ts86 switch URL (ws://HOST:PORT)');
  // Nothing listens on port 9 here: the card runs unplugged and the guest boots all the same.
  await p.goto(`${url}?net=ws://127.0.0.1:9`);
  await p.waitForFunction(() => /unplugged/.test(document.querySelector('#message')?.textContent ?? ''), null, { timeout: COMMAND_MS });
  assert.match(await p.textContent('#message') ?? '', /^The network card is unplugged: cannot reach the switch at ws:\/\/127\.0\.0\.1:9: .+\. The guest runs without a network\.$/);
  await waitForShell(p);

  await p.goto(`${url}?kernel=guest/no-such-kernel`);
  await p.waitForSelector('#message:not([hidden])');
  assert.match(await p.textContent('#message') ?? '', /kernel guest\/no-such-kernel: image not found on the server \(HTTP 404\)/);

  await p.goto(`${url}?kernel=page.css&initrd=`);
  await p.waitForFunction(() => /Cannot boot/.test(document.querySelector('#message')?.textContent ?? ''));
  // The firmware's own verdict on the same bytes, word for word.
  const css = new Uint8Array(await (await fetch(`${url}page.css`)).arrayBuffer());
  assert.is(await p.textContent('#message'), `Cannot boot page.css: ${notAKernel(css)}`);

  // A bare-metal kernel that triple-faults, dropped on the page as a user drops a file.
  const kernel = assemble('triplefault');
  const drop = await p.evaluateHandle(({ bytes, name }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], name));
    return dt;
  }, { bytes: [...kernel.image], name: 'triplefault.bin' });
  await p.dispatchEvent('body', 'drop', { dataTransfer: drop });
  await p.waitForFunction(() => /triple fault/.test(document.querySelector('#message')?.textContent ?? ''), null, { timeout: COMMAND_MS });
  assert.match(await p.textContent('#message') ?? '', /^Guest triple fault: the machine stopped\. Reset boots it again\.$/);
  // The kernel ran up to its UD2. The terminal draws its rows in a later frame than the message
  // is set: read once at once, this failed in a CI run.
  await waitForScreen(p, /triple fault next/);
  assert.is(await p.textContent('#stage'), 'Stopped');

  // Files from disk through the form: a file that is not a kernel.
  await p.click('#choose summary');
  await p.setInputFiles('#kernel-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('just text\n') });
  await p.click('#boot-form button[type=submit]');
  await p.waitForFunction(() => /Cannot boot notes\.txt/.test(document.querySelector('#message')?.textContent ?? ''));
  assert.is(await p.textContent('#message'), `Cannot boot notes.txt: ${notAKernel(new TextEncoder().encode('just text\n'))}`);

  // Two dropped files, neither a kernel: each with its reason.
  const junk = await p.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['abc'], 'a.txt'));
    dt.items.add(new File([new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, ...new Array(57).fill(0)])], 'plain.elf'));
    return dt;
  });
  await p.dispatchEvent('body', 'drop', { dataTransfer: junk });
  await p.waitForFunction(() => /None of the dropped files/.test(document.querySelector('#message')?.textContent ?? ''));
  assert.match(await p.textContent('#message') ?? '', /^None of the dropped files is a kernel \(a\.txt: .+; plain\.elf: .*ELF.*\)$/);
  await p.close();
});

/** `ts86 switch --port 0`; resolves with the child and the ws:// URL it listens on. */
function startSwitch(): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, ['switch', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /listening on (ws:\/\/[\d.]+:\d+)\//.exec(err);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('close', (code) => reject(new Error(`ts86 switch exited (${code}):\n${err}`)));
  });
}

/** A shell loop that waits (up to 2 minutes) until HOST answers, then pings it 3 times. */
const pingWhenUp = (host: string) =>
  `i=0; until ping -c 1 -W 1 ${host} >/dev/null; do i=$((i+1)); [ $i -lt 120 ] || break; done; ping -c 3 ${host}`;

test('a guest in the page and a guest in Node on the same ts86 switch ping each other', async () => {
  const sw = await startSwitch();
  const p = await newPage();
  try {
    // The Node guest keeps the default 10.0.2.15; the page's guest takes 10.0.2.16 (its MAC differs).
    // The Node guest stays on the switch a while after its own pings, so it still answers the page's.
    const node = runCli(['--net', sw.url, '--run', `${pingWhenUp('10.0.2.16')}; sleep 15`], 300);
    await p.goto(`${url}?net=${encodeURIComponent(sw.url)}`);
    await waitForShell(p);
    await waitForPrompt(p);
    assert.match(await p.textContent('#net') ?? '', new RegExp(`switch ${sw.url.replace(/[.]/g, '\\.')}`));
    await p.keyboard.type(`ip addr del 10.0.2.15/24 dev eth0; ip addr add 10.0.2.16/24 dev eth0; ${pingWhenUp('10.0.2.15')}\n`);
    await waitForScreen(p, /--- 10\.0\.2\.15 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss/, 180_000);
    const r = await node;
    assert.is(r.status, 0, `the Node guest's ping: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /--- 10\.0\.2\.16 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss/);
  } finally {
    await p.close();
    sw.child.kill();
  }
});

test('without cross-origin isolation the page still boots (no SharedArrayBuffer)', async () => {
  const g = await defaultGuest();
  const { buildWebIfStale } = await import('../../scripts/build.mjs');
  let server: Server | null = null;
  const p = await newPage();
  try {
    const plain = await startPageServer({ webDir: await buildWebIfStale(), guest: g, port: 0, isolated: false });
    server = plain.server;
    await p.goto(plain.url);
    assert.not.ok(await p.evaluate(() => crossOriginIsolated));
    assert.match(await p.textContent('#message') ?? '', /No SharedArrayBuffer: this page is not cross-origin isolated/);
    await waitForShell(p);
    assert.match(await p.textContent('#ram') ?? '', /ArrayBuffer \(not shared\)/);
    await waitForPrompt(p);
    await p.keyboard.type('echo plain-$((6*7))\n');
    await waitForScreen(p, /^plain-42$/m);
    // Without shared memory the card's data path runs inline in the CPU worker; the network works.
    await p.keyboard.type('ping -c 2 10.0.2.2\n');
    await waitForScreen(p, /2 packets transmitted, 2 packets received, 0% packet loss/);
    assert.match(await p.textContent('#net') ?? '', /data path in the CPU worker/);
  } finally {
    await p.close();
    server?.close();
  }
});

test.run();
