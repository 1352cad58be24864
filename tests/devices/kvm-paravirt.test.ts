// KVM paravirtual interface driven by guest code (nasm) on a real CPU instance; expected values
// come from Documentation/virt/kvm/x86/{cpuid,msr,hypercalls}.rst.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg, Seg } from '../../cpu/index.js';
import { HYPERCALL_DYNAMIC_BASE, KvmParavirt, pvclockScale } from '../../devices/kvm-paravirt.js';

const dir = mkdtempSync(join(tmpdir(), 'ts86-kvm-'));
let seq = 0;
function nasm(body: string): Uint8Array {
  const n = seq++;
  const src = join(dir, `t${n}.asm`), out = join(dir, `t${n}.bin`);
  writeFileSync(src, `bits 32\norg 0x1000\n${body}\nhlt\n`);
  execFileSync('nasm', ['-f', 'bin', '-o', out, src]);
  return new Uint8Array(readFileSync(out));
}

const EPOCH = 1_700_000_000_123_456_789n;
const TSC_HZ = 2_500_000_000;

function machine(tscHz = TSC_HZ) {
  const mem = new PhysicalMemory(0x200000);
  const io = new IoBus();
  const clock = new Clock('virtual', { nsPerInstruction: 3, tscHz });
  const cpu = new CPU({ mem, io, clock });
  const logs: string[] = [];
  const kvm = new KvmParavirt(cpu, mem, clock, { wallClockEpochNs: EPOCH, log: (l) => logs.push(l) });
  const run = (code: Uint8Array, setup?: () => void): void => {
    mem.writeBytes(0x1000, code);
    cpu.loadFlat32();
    setup?.();
    cpu.eip = 0x1000;
    cpu.regs[Reg.ESP] = 0x8000;
    // Guest time advances per run() batch: small batches make the TSC move within the program.
    for (let i = 0; i < 100_000 && !cpu.halted; i++) cpu.run(16);
    assert.ok(cpu.halted, 'guest code reached HLT');
  };
  const dv = new DataView(mem.ram.buffer);
  return { mem, io, clock, cpu, kvm, run, dv, logs };
}

const u64 = (dv: DataView, a: number): bigint => dv.getBigUint64(a, true);

/** The guest's computation from msr.rst: ns at `tsc` from a pvclock_vcpu_time_info at `a`. */
function pvclockRead(dv: DataView, a: number, tsc: bigint): bigint {
  let time = tsc - u64(dv, a + 8);
  const shift = dv.getInt8(a + 28);
  time = shift >= 0 ? time << BigInt(shift) : time >> BigInt(-shift);
  time = (time * BigInt(dv.getUint32(a + 24, true))) >> 32n;
  return time + u64(dv, a + 16);
}

test('CPUID: KVM signature leaf, features leaf and the hypervisor bit', () => {
  const m = machine();
  m.run(nasm(`
    mov eax, 0x40000000
    cpuid
    mov [0x3000], eax
    mov [0x3004], ebx
    mov [0x3008], ecx
    mov [0x300c], edx
    mov eax, 0x40000001
    cpuid
    mov [0x3010], eax
    mov [0x3014], ebx
    mov [0x3018], ecx
    mov [0x301c], edx
    mov eax, 1
    cpuid
    mov [0x3020], ecx
    xor eax, eax
    cpuid
    mov [0x3024], ebx`));
  const d = m.dv;
  assert.is(d.getUint32(0x3000, true), 0x40000001);
  assert.is(d.getUint32(0x3004, true), 0x4b4d564b);
  assert.is(d.getUint32(0x3008, true), 0x564b4d56);
  assert.is(d.getUint32(0x300c, true), 0x4d);
  assert.is(new TextDecoder().decode(m.mem.ram.subarray(0x3004, 0x3010)), 'KVMKVMKVM\0\0\0');
  // NOP_IO_DELAY (1), CLOCKSOURCE2 (3), CLOCKSOURCE_STABLE_BIT (24); nothing else.
  assert.is(d.getUint32(0x3010, true), (1 << 1) | (1 << 3) | (1 << 24));
  assert.is(d.getUint32(0x3014, true), 0);
  assert.is(d.getUint32(0x3018, true), 0);
  assert.is(d.getUint32(0x301c, true), 0);
  assert.is(d.getUint32(0x3020, true) >>> 31, 1, 'CPUID.1:ECX[31] hypervisor present');
  assert.is(d.getUint32(0x3024, true), 0x756e6547, 'other leaves still come from the CPU');
});

test('pvclock scale: KVM kvm_get_time_scale values', () => {
  // 1 GHz: one TSC tick is one ns: (t << 1) * 2^31 >> 32 = t.
  assert.equal(pvclockScale(1e9), { mul: 0x80000000, shift: 1 });
  for (const hz of [1e6, 14_318_180, 1e9, 2.5e9, 3_999_999_999, 10e9]) {
    const { mul, shift } = pvclockScale(hz);
    assert.ok(mul >= 0x80000000 && mul <= 0xffffffff, `mul normalised for ${hz}`);
    // One second of ticks converts to one second, to within the multiplier's precision.
    let t = BigInt(hz);
    t = shift >= 0 ? t << BigInt(shift) : t >> BigInt(-shift);
    const ns = Number((t * BigInt(mul)) >> 32n);
    assert.ok(Math.abs(ns - 1e9) <= 2, `${hz} Hz: 1 s -> ${ns} ns`);
  }
});

test('kvmclock: wall clock and vcpu time info structures follow the pvclock formula', () => {
  const m = machine();
  m.mem.ram.fill(0xcc, 0x4000, 0x4100); // junk the guest did not initialise: odd versions
  m.run(nasm(`
    mov ecx, 0x4b564d00
    mov eax, 0x4000
    xor edx, edx
    wrmsr
    mov ecx, 0x4b564d01
    mov eax, 0x4041
    xor edx, edx
    wrmsr
    rdmsr
    mov [0x3000], eax
    mov [0x3004], edx
    mov ecx, 5000
spin: loop spin
    rdtsc
    mov [0x3008], eax
    mov [0x300c], edx`));
  const d = m.dv;
  // pvclock_wall_clock {u32 version, sec, nsec}: version even, wall time of guest time 0.
  assert.is(d.getUint32(0x4000, true) % 2, 0);
  assert.is(d.getUint32(0x4004, true), Number(EPOCH / 1_000_000_000n));
  assert.is(d.getUint32(0x4008, true), Number(EPOCH % 1_000_000_000n));
  // pvclock_vcpu_time_info at 0x4040; RDMSR returns what was written (enable bit included).
  assert.is(d.getUint32(0x3000, true), 0x4041);
  const a = 0x4040;
  assert.is(d.getUint32(a, true) % 2, 0, 'version even after the update');
  assert.is(d.getUint8(a + 29) & 1, 1, 'PVCLOCK_TSC_STABLE_BIT');
  const tsc = u64(d, 0x3008);
  assert.ok(tsc > u64(d, a + 8), 'the TSC moved on since the update');
  // Guest TSC = floor(t * 2.5 GHz), so t lies within 0.4 ns of tsc / 2.5.
  const guestNs = Number(pvclockRead(d, a, tsc));
  assert.ok(Math.abs(guestNs - Number(tsc) / 2.5) <= 1, `pvclock ${guestNs} vs TSC-derived ${Number(tsc) / 2.5}`);
  assert.ok(Math.abs(guestNs - m.clock.now()) < 100, 'close to the machine clock at HLT');

  // A second registration bumps the version by two, keeping it even.
  const v0 = d.getUint32(a, true);
  m.run(nasm(`
    mov ecx, 0x4b564d01
    mov eax, 0x4041
    xor edx, edx
    wrmsr`));
  assert.is(d.getUint32(a, true), v0 + 2);
});

test('kvmclock: a guest TSC write refreshes tsc_timestamp, and the formula still holds', () => {
  const m = machine();
  m.run(nasm(`
    mov ecx, 0x4b564d01
    mov eax, 0x5001
    xor edx, edx
    wrmsr
    mov ecx, 0x10
    mov eax, 0x12345678
    mov edx, 0x9
    wrmsr
    mov ecx, 3000
spin: loop spin
    rdtsc
    mov [0x3008], eax
    mov [0x300c], edx`));
  const d = m.dv;
  assert.ok(u64(d, 0x5008) >= 0x912345678n, 'tsc_timestamp is on the new TSC scale');
  const tsc = u64(d, 0x3008);
  const ns = Number(pvclockRead(d, 0x5000, tsc));
  assert.ok(Math.abs(ns - m.clock.now()) < 100);
});

test('kvmclock: addresses outside RAM are accepted by the MSR but never written', () => {
  const m = machine();
  m.run(nasm(`
    mov ecx, 0x4b564d01
    mov eax, 0xfee00001
    xor edx, edx
    wrmsr
    mov ecx, 0x4b564d00
    mov eax, 0x1ffffc
    wrmsr
    mov ecx, 0x4b564d01
    mov eax, 0x00000001
    mov edx, 1
    wrmsr
    mov dword [0x3000], 0x600d`));
  assert.is(m.dv.getUint32(0x3000, true), 0x600d, 'no #GP');
  assert.is(m.logs.length, 3);
  assert.is(m.kvm.systemTimeMsr, 0x100000001n);
});

test('KVM_HC_CLOCK_PAIRING writes struct kvm_clock_pairing; errors as KVM returns them', () => {
  const m = machine();
  m.mem.ram.fill(0xaa, 0x6000, 0x6040);
  m.run(nasm(`
    mov ecx, 2000
spin: loop spin
    mov eax, 9
    mov ebx, 0x6000
    xor ecx, ecx
    vmcall
    mov [0x3000], eax
    mov eax, 9
    mov ebx, 0x6000
    mov ecx, 1
    vmcall
    mov [0x3004], eax
    mov eax, 9
    mov ebx, 0x1fffe0
    xor ecx, ecx
    vmcall
    mov [0x3008], eax
    mov eax, 12345
    vmcall
    mov [0x300c], eax
    mov eax, 1
    vmcall
    mov [0x3010], eax`));
  const d = m.dv;
  assert.is(d.getInt32(0x3000, true), 0);
  assert.is(d.getInt32(0x3004, true), -95, 'clock type other than WALLCLOCK: -KVM_EOPNOTSUPP');
  assert.is(d.getInt32(0x3008, true), -14, 'structure not in RAM: -KVM_EFAULT');
  assert.is(d.getInt32(0x300c, true), -1000, 'unknown: -KVM_ENOSYS');
  assert.is(d.getInt32(0x3010, true), 0, 'KVM_HC_VAPIC_POLL_IRQ');
  const sec = d.getBigInt64(0x6000, true), nsec = d.getBigInt64(0x6008, true), tsc = d.getBigUint64(0x6010, true);
  assert.ok(nsec >= 0n && nsec < 1_000_000_000n);
  // sec/nsec is the wall clock at the instant the guest TSC read `tsc`.
  const sinceBoot = sec * 1_000_000_000n + nsec - EPOCH;
  assert.ok(sinceBoot > 0n);
  assert.ok(Math.abs(Number(sinceBoot) - Number(tsc) / 2.5) <= 1, `${sinceBoot} ns vs tsc ${tsc}`);
  assert.is(d.getUint32(0x6018, true), 0, 'flags');
  for (let i = 0x601c; i < 0x6040; i++) assert.is(m.mem.ram[i], 0, 'pad zeroed');
});

test('hypercalls from CPL 3 get -KVM_EPERM', () => {
  const m = machine();
  m.run(nasm(`
    mov eax, 9
    mov ebx, 0x6000
    xor ecx, ecx
    vmcall
    mov [0x3000], eax
    mov eax, 12345
    vmcall
    mov [0x3004], eax`), () => {
    m.cpu.setSegCache(Seg.CS, 0x1b, 0, 0xffffffff, 0xc0fb);
    for (const s of [Seg.SS, Seg.DS, Seg.ES]) m.cpu.setSegCache(s, 0x23, 0, 0xffffffff, 0xc0f3);
    m.cpu.cpl = 3;
    m.cpu.updatePrivilege();
  });
  // HLT at CPL 3 faults; the stores before it are what matter.
  assert.is(m.dv.getInt32(0x3000, true), -1);
  assert.is(m.dv.getInt32(0x3004, true), -1);
  assert.is(m.dv.getUint32(0x6000, true), 0, 'nothing written');
});

test('dynamic hypercall numbers reach their callback with EBX, ECX, EDX, ESI', () => {
  const m = machine();
  const seen: number[][] = [];
  const nr = m.kvm.registerHypercall((a0, a1, a2, a3) => { seen.push([a0, a1, a2, a3]); return 0x77; }, 'test');
  assert.ok(nr >= HYPERCALL_DYNAMIC_BASE);
  const other = m.kvm.registerHypercall(() => 1, 'other');
  assert.is.not(other, nr);
  m.run(nasm(`
    mov eax, [0x2ffc]
    mov ebx, 0x11
    mov ecx, 0x22
    mov edx, 0xfffffff3
    mov esi, 0x44
    vmcall
    mov [0x3000], eax`), () => m.dv.setUint32(0x2ffc, nr, true));
  assert.equal(seen, [[0x11, 0x22, 0xfffffff3, 0x44]]);
  assert.is(m.dv.getUint32(0x3000, true), 0x77);
  m.kvm.unregisterHypercall(nr);
  m.run(nasm(`
    mov eax, [0x2ffc]
    vmcall
    mov [0x3000], eax`));
  assert.is(m.dv.getInt32(0x3000, true), -1000);
});

test.run();
