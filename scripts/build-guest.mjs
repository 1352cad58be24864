#!/usr/bin/env node
// Builds the default ts86 guest (design.md §4): an i386 tinyconfig kernel from Debian's
// linux-source-6.1 plus scripts/guest/ts86.config and the patches in scripts/guest/patches/, and a
// busybox initramfs whose /init is scripts/guest/init.c.
// The guest boots as `vmlinux` through the PVH entry (no decompressor runs) with an uncompressed
// cpio initramfs (nothing to inflate): measured with scripts/profile-boot.mjs, the LZ4 decompressor
// took ~12 M guest instructions and gunzipping the initramfs ~55 M of the old 134 M to the ready
// line. The LZ4 bzImage is kept beside it for loaders without PVH (v86, bootloaders), and
// System.map for the profile.
// The result is cached outside the repo under a hash of every input, so it is rebuilt only when
// one of them changes. `node scripts/build-guest.mjs` builds if needed and prints the paths.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCRIPT = fileURLToPath(import.meta.url);
const FRAGMENT = join(HERE, 'guest', 'ts86.config');
const INIT = join(HERE, 'guest', 'init.c');
const PATCH_DIR = join(HERE, 'guest', 'patches');
/** Kernel patches, applied in name order with `patch -p1` to a source tree of their own. */
const patches = () => readdirSync(PATCH_DIR).filter((f) => f.endsWith('.patch')).sort().map((f) => join(PATCH_DIR, f));
const KERNEL_TARBALL = '/usr/src/linux-source-6.1.tar.xz';
const KERNEL_PKG = 'linux-source-6.1';
const BUSYBOX_PKG = 'busybox-static:i386';
const BUILD_PKGS = ['make', 'gcc', 'flex', 'bison', 'libelf-dev', 'bc', 'cpio', 'libssl-dev', 'lz4', 'xz-utils', 'patch', KERNEL_PKG];

/** The options design.md §4 says the guest needs; the fragment must set each to y. */
const REQUIRED = [
  'M686', 'PRINTK', 'TTY', 'SERIAL_8250', 'SERIAL_8250_CONSOLE', 'BLK_DEV_INITRD', 'BINFMT_ELF', 'BINFMT_SCRIPT',
  'PROC_FS', 'SYSFS', 'DEVTMPFS', 'DEVTMPFS_MOUNT', 'NET', 'INET', 'PACKET', 'UNIX', 'PCI', 'PCI_MSI', 'VIRTIO_PCI',
  'VIRTIO_NET', 'NETDEVICES', 'X86_UP_APIC', 'X86_UP_IOAPIC', 'X86_MPPARSE', 'FUTEX', 'EPOLL', 'SHMEM', 'MULTIUSER',
  'HYPERVISOR_GUEST', 'PARAVIRT', 'KVM_GUEST', 'PTP_1588_CLOCK_KVM',
];

export function cacheRoot() {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ts86');
}

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { encoding: 'utf8', ...opts });
const ok = (cmd, args) => run(cmd, args, { stdio: 'ignore' }).status === 0;
const pkgVersion = (pkg) => {
  const r = run('dpkg-query', ['-W', '-f=${Status} ${Version}', pkg]);
  const m = r.status === 0 ? /^install ok installed (\S+)/.exec(r.stdout) : null;
  return m ? m[1] : null;
};

function aptInstall(pkgs, log) {
  if (!ok('apt-get', ['--version'])) {
    throw new Error(`building the ts86 guest needs the Debian packages ${pkgs.join(' ')}, and apt-get is not available here; install them and retry`);
  }
  const sudo = process.getuid?.() !== 0;
  if (sudo && !ok('sudo', ['-n', 'true'])) {
    throw new Error(`building the ts86 guest needs the Debian packages ${pkgs.join(' ')}; run as root: apt-get install ${pkgs.join(' ')}`);
  }
  const exec = (args) => {
    // apt's chatter goes to stderr: stdout of this script is only the resulting paths.
    const r = sudo ? run('sudo', ['-n', ...args], { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
      : run(args[0], args.slice(1), { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error(`ts86 guest: '${args.join(' ')}' failed; install ${pkgs.join(' ')} by hand and retry`);
  };
  log(`installing ${pkgs.join(' ')}`);
  if (pkgs.some((p) => p.endsWith(':i386')) && !run('dpkg', ['--print-foreign-architectures']).stdout.split('\n').includes('i386')) {
    exec(['dpkg', '--add-architecture', 'i386']);
  }
  // A partly failed update (one mirror out of sync) may still have fetched the index we need.
  try { exec(['apt-get', 'update', '-q']); } catch (e) { log(`'apt-get update' failed; trying the install anyway`); }
  exec(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...pkgs]);
}

/** Hash of every input that changes the output; null when a needed package is not installed. */
function inputKey() {
  const h = createHash('sha256');
  for (const f of [SCRIPT, FRAGMENT, INIT, ...patches()]) h.update(readFileSync(f)).update('\0');
  const tools = toolVersions();
  if (tools === null) return null;
  return h.update(tools).digest('hex').slice(0, 16);
}

/**
 * The package and compiler versions in the key. Asking dpkg-query and gcc takes about 30 ms of
 * every `ts86` start, so the answer is kept beside the guests for as long as dpkg's database is
 * unchanged.
 */
function toolVersions() {
  const memo = join(cacheRoot(), 'guest', 'tool-versions.json');
  let stamp;
  try { stamp = statSync('/var/lib/dpkg/status').mtimeMs; } catch { stamp = null; }
  if (stamp !== null) {
    try {
      const m = JSON.parse(readFileSync(memo, 'utf8'));
      if (m.stamp === stamp && typeof m.text === 'string') return m.text;
    } catch { /* none yet, or unreadable: ask again */ }
  }
  let text = '';
  for (const p of [KERNEL_PKG, BUSYBOX_PKG, 'binutils']) {
    const v = pkgVersion(p);
    if (v === null) return null;
    text += `${p}=${v}\0`;
  }
  text += run('gcc', ['--version']).stdout ?? '';
  if (stamp !== null) {
    try { mkdirSync(dirname(memo), { recursive: true }); writeFileSync(memo, JSON.stringify({ stamp, text })); } catch { /* a read-only cache only costs the time */ }
  }
  return text;
}

function outputPaths(key) {
  const dir = join(cacheRoot(), 'guest', key);
  return {
    dir, kernel: join(dir, 'vmlinux'), bzImage: join(dir, 'bzImage'), initrd: join(dir, 'initramfs.cpio'),
    config: join(dir, 'config'), systemMap: join(dir, 'System.map'),
  };
}

/** The guest's paths if it is already built for the current inputs, else null. Never builds. */
export function cachedGuest() {
  const key = inputKey();
  if (!key) return null;
  const p = outputPaths(key);
  return [p.kernel, p.bzImage, p.initrd, p.systemMap].every((f) => existsSync(f)) ? p : null;
}

/** Build the guest unless the cache already holds it; returns { dir, kernel, initrd, config }. */
export async function ensureGuest({ quiet = false } = {}) {
  const t0 = Date.now();
  const log = quiet ? () => {} : (msg) => process.stderr.write(`ts86 guest: ${msg}\n`);
  const cached = cachedGuest();
  if (cached) return cached;

  const missing = BUILD_PKGS.concat(BUSYBOX_PKG).filter((p) => pkgVersion(p) === null);
  if (missing.length) aptInstall(missing, log);
  const key = inputKey();
  if (!key) throw new Error('ts86 guest: packages still missing after installation');
  const out = outputPaths(key);

  mkdirSync(join(cacheRoot(), 'guest'), { recursive: true });
  const unlock = await lock(join(cacheRoot(), 'guest', 'lock'), log);
  try {
    if ([out.kernel, out.bzImage, out.initrd, out.systemMap].every((f) => existsSync(f))) return out; // built by another process meanwhile
    log(`building into ${out.dir} (about 5-10 minutes; make output goes to build.log there)`);
    const tmp = `${out.dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const logFile = join(tmp, 'build.log');
    const { tree: src, key: srcKey } = await step('unpack and patch linux source', log, () => unpackSource(logFile));
    // One object tree per patched source tree: kbuild keeps the source path in its output.
    const obj = join(cacheRoot(), 'guest', `obj-i386-${srcKey}`);
    mkdirSync(obj, { recursive: true });
    const make = (args, opts) => cmd('make', ['-C', src, `O=${obj}`, 'ARCH=i386', ...args], logFile, { ...opts, env: KBUILD_ENV });
    await step('configure (tinyconfig + ts86.config)', log, async () => {
      await make(['tinyconfig']);
      await cmd(join(src, 'scripts/kconfig/merge_config.sh'), ['-m', '-O', obj, join(obj, '.config'), FRAGMENT], logFile, { cwd: src });
      await make(['olddefconfig']);
      const bad = configProblems(readFileSync(join(obj, '.config'), 'utf8'), readFileSync(FRAGMENT, 'utf8'), kconfigSymbols(src));
      if (bad.length) throw new Error(`ts86 guest: kernel configuration is not what ${FRAGMENT} asks for:\n  ${bad.join('\n  ')}`);
    });
    // bzImage depends on vmlinux: one make builds both.
    await step('compile kernel (make -j2 bzImage)', log, () => make(['-j2', 'bzImage'], { progress: quiet ? null : log }));
    for (const [from, to] of [['vmlinux', 'vmlinux'], ['arch/x86/boot/bzImage', 'bzImage'], ['System.map', 'System.map'], ['.config', 'config']]) {
      writeFileSync(join(tmp, to), readFileSync(join(obj, from)));
    }
    await step('initramfs (busybox, /init)', log, async () => {
      await cmd('gcc', [...INIT_CFLAGS, '-o', join(tmp, 'init'), INIT], logFile);
      writeFileSync(join(tmp, 'initramfs.cpio'), buildInitramfs(readFileSync(join(tmp, 'init'))));
      rmSync(join(tmp, 'init'));
    });
    rmSync(out.dir, { recursive: true, force: true });
    renameSync(tmp, out.dir);
    const size = (f) => `${(statSync(f).size / 1024).toFixed(0)} KiB`;
    log(`done in ${secs(t0)}: vmlinux ${size(out.kernel)} (bzImage ${size(out.bzImage)}), initramfs ${size(out.initrd)}`);
    return out;
  } finally {
    unlock();
  }
}

/** /init is freestanding i386 code: the compiler that builds the kernel builds it, no libc needed. */
const INIT_CFLAGS = ['-m32', '-static', '-nostdlib', '-ffreestanding', '-fno-pic', '-fno-stack-protector', '-fno-asynchronous-unwind-tables', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-Wl,--build-id=none,-z,noseparate-code'];

const KBUILD_ENV = { ...process.env, KBUILD_BUILD_USER: 'ts86', KBUILD_BUILD_HOST: 'ts86', KBUILD_BUILD_TIMESTAMP: '2024-01-01', KBUILD_BUILD_VERSION: '1', LC_ALL: 'C' };

const secs = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

async function step(name, log, fn) {
  const t0 = Date.now();
  log(`${name}...`);
  const r = await fn();
  log(`${name}: ${secs(t0)}`);
  return r;
}

/** Run a command with its output appended to `logFile`; `progress` gets a periodic status line. */
function cmd(file, args, logFile, { cwd, env, progress = null } = {}) {
  return new Promise((resolve, reject) => {
    const logStream = createWriteStream(logFile, { flags: 'a' });
    logStream.write(`\n$ ${file} ${args.join(' ')}\n`);
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0, last = '';
    const onData = (chunk) => {
      logStream.write(chunk);
      for (const l of chunk.toString().split('\n')) if (l.trim()) { lines++; last = l.trim(); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const t0 = Date.now();
    const tty = process.stderr.isTTY;
    const timer = progress && setInterval(() => {
      const status = `  ${secs(t0)}, ${lines} steps, ${last.slice(0, 60)}`;
      if (tty) process.stderr.write(`\r${status.padEnd(90)}\r`);
      else progress(status.trim());
    }, tty ? 500 : 30000);
    child.on('error', (e) => { if (timer) clearInterval(timer); logStream.end(); reject(new Error(`ts86 guest: cannot run ${file}: ${e.message}`)); });
    child.on('close', (code) => {
      if (timer) { clearInterval(timer); if (tty) process.stderr.write(`\r${' '.repeat(90)}\r`); }
      logStream.end();
      if (code === 0) resolve();
      else reject(new Error(`ts86 guest: '${file} ${args.join(' ')}' failed (exit ${code}); see ${logFile}\n${last}`));
    });
  });
}

/**
 * Unpacks the Debian kernel source and applies the patches, once per package version and patch
 * set; returns the source tree and its key.
 */
async function unpackSource(logFile) {
  const h = createHash('sha256');
  for (const f of patches()) h.update(readFileSync(f)).update('\0');
  const key = `${pkgVersion(KERNEL_PKG)}-${h.digest('hex').slice(0, 12)}`;
  const base = join(cacheRoot(), 'src', `${KERNEL_PKG}_${key}`);
  const tree = join(base, KERNEL_PKG);
  if (existsSync(join(base, 'unpacked'))) return { tree, key };
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  await cmd('tar', ['-xf', KERNEL_TARBALL, '-C', base], logFile);
  if (!existsSync(join(tree, 'Makefile'))) throw new Error(`ts86 guest: ${KERNEL_TARBALL} did not unpack to ${tree}`);
  for (const p of patches()) await cmd('patch', ['-p1', '--forward', '--batch', '-i', p], logFile, { cwd: tree });
  writeFileSync(join(base, 'unpacked'), '');
  return { tree, key };
}

/**
 * What is wrong with a kernel configuration against the fragment: an option the fragment sets
 * that olddefconfig dropped (a missing dependency drops it silently), one the kernel's Kconfig does
 * not have (a "not set" line for it would otherwise pass unnoticed), a required option not set to y.
 */
export function configProblems(config, fragment, symbols) {
  const parse = (text) => {
    const opts = new Map();
    for (const line of text.split('\n')) {
      let m = /^CONFIG_(\w+)=(.*)$/.exec(line);
      if (m) opts.set(m[1], m[2]);
      else if ((m = /^# CONFIG_(\w+) is not set$/.exec(line))) opts.set(m[1], 'n');
    }
    return opts;
  };
  const have = parse(config), wanted = parse(fragment);
  const bad = [];
  for (const opt of REQUIRED) if (wanted.get(opt) !== 'y') bad.push(`CONFIG_${opt}=y missing from the fragment`);
  for (const [opt, v] of wanted) {
    if (!symbols.has(opt)) { bad.push(`CONFIG_${opt}: no such option in this kernel's Kconfig`); continue; }
    const got = have.get(opt) ?? 'n';
    if (got !== v) bad.push(`CONFIG_${opt}: wanted ${v}, .config has ${got}`);
  }
  return bad;
}

/** Every option name the Kconfig files of a kernel source tree define. */
export function kconfigSymbols(tree) {
  const symbols = new Set();
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) { if (!e.name.startsWith('.')) walk(join(dir, e.name)); continue; }
      if (!e.name.startsWith('Kconfig')) continue;
      for (const m of readFileSync(join(dir, e.name), 'utf8').matchAll(/^\s*(?:menu)?config\s+(\w+)/gm)) symbols.add(m[1]);
    }
  };
  walk(tree);
  return symbols;
}

function busyboxBinary() {
  const files = run('dpkg', ['-L', BUSYBOX_PKG]).stdout.split('\n').filter((f) => /\/busybox$/.test(f) && statSync(f, { throwIfNoEntry: false })?.isFile());
  if (!files.length) throw new Error(`ts86 guest: ${BUSYBOX_PKG} is installed but has no busybox binary`);
  const bin = readFileSync(files[0]);
  // ELF, 32-bit, e_machine EM_386: the guest cannot run anything else.
  if (bin.readUInt32BE(0) !== 0x7f454c46 || bin[4] !== 1 || bin.readUInt16LE(18) !== 3) throw new Error(`ts86 guest: ${files[0]} is not an i386 ELF binary`);
  return { path: files[0], bin };
}

function buildInitramfs(init) {
  const { path, bin } = busyboxBinary();
  // Debian's static busybox has the standalone shell (FEATURE_SH_STANDALONE, PREFER_APPLETS): sh,
  // setsid, udhcpc and the like run applets by name with no link in PATH. So only /bin/sh (for
  // #! lines) is linked: a cpio entry per applet link (268) cost the boot 4.4 M of its 20.9 M guest
  // instructions. Checked here, as the guest depends on it.
  const probe = run(path, ['sh', '-c', 'ls / >/dev/null && setsid true'], { env: { PATH: '/nonexistent' } });
  if (probe.status !== 0) throw new Error(`ts86 guest: ${path} does not run applets without links in PATH (no standalone shell); the guest's shell needs it`);
  const cpio = new CpioWriter();
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'etc', 'root']) cpio.add(d, 0o040755);
  cpio.add('tmp', 0o041777);
  // The kernel opens /dev/console for init before anything can mount devtmpfs.
  cpio.add('dev/console', 0o020600, new Uint8Array(0), [5, 1]);
  cpio.add('bin/busybox', 0o100755, bin);
  cpio.add('init', 0o100755, init);
  cpio.add('bin/sh', 0o120777, Buffer.from('busybox'));
  return cpio.finish();
}

/** cpio "newc" archive (the format the kernel unpacks, Documentation/driver-api/early-userspace). */
class CpioWriter {
  parts = [];
  ino = 1;
  add(name, mode, data = new Uint8Array(0), [rdevMajor, rdevMinor] = [0, 0]) {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [this.ino++, mode, 0, 0, (mode & 0o170000) === 0o040000 ? 2 : 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    this.parts.push(header, nameBytes, pad(header.length + nameBytes.length), Buffer.from(data), pad(data.length));
  }
  finish() {
    this.add('TRAILER!!!', 0);
    return Buffer.concat(this.parts);
  }
}
const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);

/** A directory lock shared with other ts86 processes building the same cache. */
async function lock(path, log) {
  for (let waited = false; ; ) {
    try {
      mkdirSync(path);
      writeFileSync(join(path, 'pid'), String(process.pid));
      return () => rmSync(path, { recursive: true, force: true });
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let pid = 0, alive = false, age = 0;
      try {
        age = Date.now() - statSync(path).mtimeMs;
        pid = Number(readFileSync(join(path, 'pid'), 'utf8'));
        process.kill(pid, 0);
        alive = true;
      } catch { /* no pid yet, or its owner is gone */ }
      // A lock without a live owner is stale once it is older than the owner needs to write its pid.
      if (!alive && age > 5000) { rmSync(path, { recursive: true, force: true }); continue; }
      if (alive && !waited) { log(`waiting for another build (pid ${pid})`); waited = true; }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureGuest().then(
    (p) => { console.log(`kernel: ${p.kernel}\ninitrd: ${p.initrd}`); },
    (e) => { console.error(e.message); process.exit(1); },
  );
}
