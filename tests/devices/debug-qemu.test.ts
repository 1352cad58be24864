// The debug devices, fw_cfg, the PCI host bridge and port 0x80, probed by one bare-metal
// Multiboot kernel (nasm) that prints what it reads; the same kernel runs under ts86 and, when
// qemu-system-i386 is installed, under QEMU, and the transcripts must match. Expected values also
// come from QEMU's documentation (docs/specs/fw_cfg.rst, hw/misc/pc-testdev.c, debugcon, debugexit).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { HostBridge, PciBus } from '../../bus/pci/index.js';
import { CPU } from '../../cpu/index.js';
import { DebugExit } from '../../devices/debug-exit.js';
import { Debugcon } from '../../devices/debugcon.js';
import { FwCfg } from '../../devices/fw-cfg.js';
import { PcTestdev } from '../../devices/pc-testdev.js';
import { PostCode } from '../../devices/post-code.js';
import { loadMultiboot } from '../../firmware/multiboot.js';

const RAM = 64 << 20;
const dir = mkdtempSync(join(tmpdir(), 'ts86-dbg-'));
const qemu = spawnSync('qemu-system-i386', ['--version'], { stdio: 'ignore' }).status === 0;

/** A Multiboot (a.out kludge) kernel at 1 MiB: `body`, then exit code 0x31 on port 0xF4. */
function kernel(name: string, out: number, body: string): string {
  const src = join(dir, `${name}.asm`), bin = join(dir, `${name}.bin`);
  writeFileSync(src, `
bits 32
org 0x100000
OUTP equ ${out}
hdr: dd 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
     dd hdr, hdr, image_end, bss_end, start
start:
  mov esp, 0x90000
${body}
  mov al, '.'
  mov dx, OUTP
  out dx, al
  mov eax, 0x31
  out 0xf4, eax
  hlt
  jmp $
; eax as 8 hex digits and a space
hex32:
  pushad
  mov ecx, 8
  mov dx, OUTP
.l:
  rol eax, 4
  mov ebx, eax
  and al, 0xf
  add al, '0'
  cmp al, '9'
  jbe .d
  add al, 7
.d:
  out dx, al
  mov eax, ebx
  loop .l
  mov al, ' '
  out dx, al
  popad
  ret
align 16
desc: dd 0, 0, 0, 0
buf: times 16 db 0x5a
image_end:
bss_end:
`);
  const r = spawnSync('nasm', ['-f', 'bin', '-o', bin, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nasm: ${r.stderr}`);
  return bin;
}

/** `in` of the given size with EAX preset to a marker, then print EAX. */
const inp = (port: number, size: 1 | 2 | 4): string => `
  mov eax, 0xc0c0c0c0
  mov dx, ${port}
  in ${size === 1 ? 'al' : size === 2 ? 'ax' : 'eax'}, dx
  call hex32`;
const outp = (port: number, size: 1 | 2 | 4, v: number): string => `
  mov eax, ${v}
  mov dx, ${port}
  out dx, ${size === 1 ? 'al' : size === 2 ? 'ax' : 'eax'}`;
const be32 = (v: number): number => ((v & 0xff) << 24 | (v & 0xff00) << 8 | (v >>> 8) & 0xff00 | v >>> 24) >>> 0;
/** FWCfgDmaAccess {control, length, address} (big-endian) at `desc`, then trigger via 0x518. */
const dma = (control: number, length: number): string => `
  mov dword [desc], ${be32(control)}
  mov dword [desc + 4], ${be32(length)}
  mov eax, buf
  bswap eax
  mov dword [desc + 8], 0
  mov [desc + 12], eax
  mov eax, desc
  bswap eax
  mov dx, 0x518
  out dx, eax
  mov eax, [desc]
  bswap eax
  call hex32
  mov eax, [buf]
  call hex32
  mov eax, [buf + 4]
  call hex32`;

const PLATFORM = [
  // Debug console readback (byte).
  inp(0xe9, 1),
  // fw_cfg: signature, ID, CPU counts, RAM size; both comb ports read data.
  outp(0x510, 2, 0x0000), inp(0x511, 1), inp(0x511, 1), inp(0x510, 1), inp(0x511, 1), inp(0x511, 1),
  outp(0x510, 2, 0x0001), inp(0x511, 1), inp(0x511, 1), inp(0x511, 1), inp(0x511, 1),
  outp(0x510, 2, 0x0005), inp(0x511, 1), inp(0x511, 1),
  outp(0x510, 2, 0x000f), inp(0x511, 1), inp(0x511, 1),
  outp(0x510, 2, 0x0003), ...Array.from({ length: 8 }, () => inp(0x511, 1)),
  // The write channel bit selects the same item; a word write at 0x511 runs past the
  // two-port register and is dropped.
  outp(0x510, 2, 0x4000), inp(0x511, 1), outp(0x511, 2, 0x0000), inp(0x511, 1),
  // Keys past the file slots do not exist.
  outp(0x510, 2, 0x3fff), inp(0x511, 1),
  // DMA register signature "QEMU CFG".
  inp(0x514, 4), inp(0x518, 4), inp(0x514, 1), inp(0x51b, 1),
  // DMA: select+read signature (8 bytes: 4 of item, 4 zero-filled), skip, write (fails), no-op.
  dma((0 << 16) | 8 | 2, 8), dma((1 << 16) | 8 | 4, 2), dma(2, 2), dma((0 << 16) | 8 | 16, 4), dma(0, 4),
  // PCI: CONFIG_ADDRESS readback, host bridge ids/class, sub-dword reads, an empty slot.
  outp(0xcf8, 4, 0x80000000), inp(0xcf8, 4), inp(0xcfc, 4), inp(0xcfe, 2), inp(0xcfd, 1),
  outp(0xcf8, 4, 0x80000008), inp(0xcfc, 4),
  outp(0xcf8, 4, 0x8000f800), inp(0xcfc, 4),
  outp(0xcf8, 4, 0x00000000), inp(0xcfc, 4),
  // Port 0x80 reads float.
  inp(0x80, 1), inp(0x80, 2),
  // Access sizes the devices do not take.
  inp(0xe9, 2), inp(0xe9, 4), inp(0x510, 2), inp(0x510, 4),
  outp(0xcf8, 4, 0x80001234), inp(0xcf8, 2), inp(0xcfa, 2), inp(0xcfa, 1), inp(0xcfb, 1), outp(0xcf8, 2, 0x5678), outp(0xcfa, 1, 0x9a), inp(0xcf8, 4),
].join('\n');

const TESTDEV = [
  outp(0xe0, 4, 0x12345678), inp(0xe0, 4), inp(0xe1, 1), inp(0xe2, 2), inp(0xe3, 1),
  inp(0xe8, 1), inp(0xe9, 1), inp(0xea, 1), inp(0xeb, 1), inp(0xe8, 4), inp(0xea, 2),
  outp(0xe9, 1, 0xaa), outp(0xea, 2, 0xbbcc), inp(0xe0, 4),
  outp(0xe2, 1, 0x11), inp(0xe0, 4),
  outp(0xe4, 4, 0x00200000), inp(0xe0, 4),
  // Unaligned or wrong-size accesses.
  inp(0xe1, 2), inp(0xe2, 4), inp(0xe9, 2), inp(0xe4, 4), inp(0xe4, 1), inp(0x2000, 1), inp(0x2017, 1),
  outp(0xe1, 2, 0x9999), outp(0xe9, 2, 0x8888), outp(0xe2, 4, 0x77777777), inp(0xe0, 4),
  `
  mov dword [0xff000000], 0xdeadbeef
  mov dword [0xff00fffc], 0x01020304
  mov byte [0xff000001], 0x77
  mov eax, [0xff000000]
  call hex32
  movzx eax, word [0xff000002]
  call hex32
  mov eax, [0xff00fffc]
  call hex32`,
].join('\n');

interface Run { output: string; status: number | null }

function runTs86(bin: string, withTestdev: boolean, outPort: number): Run & { irqs: [number, boolean][]; post: number[]; logs: string[] } {
  const mem = new PhysicalMemory(RAM);
  const io = new IoBus();
  const clock = new Clock('virtual');
  const cpu = new CPU({ mem, io, clock });
  let output = '';
  let status: number | null = null;
  const irqs: [number, boolean][] = [];
  const post: number[] = [];
  new Debugcon(io, (b) => { output += String.fromCharCode(b); }, { iobase: outPort });
  new DebugExit(io, (s) => { if (status === null) status = s; });
  const logs: string[] = [];
  const log = (l: string): void => { logs.push(l); };
  new FwCfg(io, mem, { ramSize: RAM, log });
  new PciBus({ io, mem, log }).add(new HostBridge(), 0);
  new PostCode(io, (c) => post.push(c));
  if (withTestdev) new PcTestdev(io, mem, (irq, level) => irqs.push([irq, level]), { log });
  cpu.loadBootState(loadMultiboot(mem, { kernel: new Uint8Array(readFileSync(bin)) }));
  for (let i = 0; i < 1000 && status === null && !cpu.halted; i++) cpu.run(100_000);
  return { output, status, irqs, post, logs };
}

function runQemu(bin: string, args: string[]): Run {
  const r = spawnSync('qemu-system-i386', [
    '-kernel', bin, '-m', '64', '-display', 'none', '-monitor', 'none', '-serial', 'none', '-parallel', 'none',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-no-reboot', ...args,
  ], { encoding: 'latin1', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { output: r.stdout, status: r.status };
}

test('platform probe: debugcon, fw_cfg, PCI host bridge, port 0x80 (ts86 vs QEMU)', () => {
  const bin = kernel('platform', 0xe9, PLATFORM);
  const ts = runTs86(bin, false, 0xe9);
  const words = ts.output.trim().split(/\s+/);
  // From the documentation, independent of QEMU being installed:
  assert.is(ts.status, (0x31 << 1) | 1, 'isa-debug-exit status');
  assert.is(words[0], 'C0C0C0E9', 'debugcon reads back 0xE9');
  assert.equal(words.slice(1, 6).map((w) => String.fromCharCode(parseInt(w, 16) & 0xff)).join(''), 'QEMU\0');
  assert.equal(words.slice(6, 10).map((w) => parseInt(w, 16) & 0xff), [3, 0, 0, 0], 'FW_CFG_ID: traditional + DMA');
  assert.is(words.at(-1), '.');
  if (!qemu) { console.log('  (qemu-system-i386 not installed: QEMU comparison skipped)'); return; }
  const q = runQemu(bin, ['-debugcon', 'stdio']);
  assert.is(q.status, (0x31 << 1) | 1);
  assert.is(ts.output, q.output);
});

test('pc-testdev probe: scratch register, byte window, flush port, iomem (ts86 vs QEMU)', () => {
  const bin = kernel('testdev', 0x1000, TESTDEV);
  const ts = runTs86(bin, true, 0x1000);
  const words = ts.output.trim().split(/\s+/);
  assert.is(words[0], '12345678');
  assert.is(words[1], 'C0C0C056', 'byte 1 of the register');
  assert.is(words[2], 'C0C01234', 'word at 0xE2');
  assert.is(ts.status, 0x63);
  if (!qemu) return;
  const q = runQemu(bin, ['-device', 'pc-testdev', '-chardev', 'stdio,id=dc', '-device', 'isa-debugcon,iobase=0x1000,chardev=dc']);
  assert.is(q.status, 0x63);
  assert.is(ts.output, q.output);
});

test.run();
