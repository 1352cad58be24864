/**
 * The KVM paravirtual interface a Linux guest with KVM_GUEST looks for (Documentation/virt/kvm/x86:
 * cpuid.rst, msr.rst, hypercalls.rst):
 *
 * - CPUID 0x40000000 "KVMKVMKVM\0\0\0" (max leaf 0x40000001) and 0x40000001 features:
 *   NOP_IO_DELAY (port I/O needs no delay here), CLOCKSOURCE2 (kvmclock at 0x4b564d00/01) and
 *   CLOCKSOURCE_STABLE_BIT. CPUID.1:ECX bit 31 (hypervisor present) is set.
 * - kvmclock: MSR_KVM_WALL_CLOCK_NEW writes struct pvclock_wall_clock (wall time at guest time 0)
 *   at the address written; MSR_KVM_SYSTEM_TIME_NEW (address | enable bit 0) registers a
 *   struct pvclock_vcpu_time_info. The guest TSC runs at a constant rate derived from the Clock,
 *   so the structure is written when it is registered and again when the guest writes the TSC;
 *   its flags carry PVCLOCK_TSC_STABLE_BIT. Addresses outside RAM are accepted by the MSR (as KVM
 *   does) and simply never written.
 * - VMCALL (or VMMCALL) with KVM's register convention: EAX = nr, args EBX, ECX, EDX, ESI, result
 *   in EAX. A caller above CPL 0 gets -KVM_EPERM. KVM_HC_VAPIC_POLL_IRQ returns 0,
 *   KVM_HC_CLOCK_PAIRING fills struct kvm_clock_pairing, any other KVM number -KVM_ENOSYS.
 * - Dynamic hypercalls: devices bind a callback to a number from HYPERCALL_DYNAMIC_BASE upward,
 *   far above KVM's own numbers (1..12 today), and advertise it to the guest themselves.
 */
import type { Clock } from '../bus/clock.js';
import type { PhysicalMemory } from '../bus/memory.js';
import { GuestLog } from '../bus/pci/guest-log.js';
import { Reg, type CPU } from '../cpu/index.js';

export const KVM_CPUID_SIGNATURE = 0x40000000;
export const KVM_CPUID_FEATURES = 0x40000001;
export const KVM_FEATURE_NOP_IO_DELAY = 1;
export const KVM_FEATURE_CLOCKSOURCE2 = 3;
export const KVM_FEATURE_CLOCKSOURCE_STABLE_BIT = 24;

export const MSR_KVM_WALL_CLOCK_NEW = 0x4b564d00;
export const MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01;
export const PVCLOCK_TSC_STABLE_BIT = 1 << 0;
export const PVCLOCK_GUEST_STOPPED = 1 << 1;

export const KVM_HC_VAPIC_POLL_IRQ = 1;
export const KVM_HC_CLOCK_PAIRING = 9;
export const KVM_CLOCK_PAIRING_WALLCLOCK = 0;
/** Positive error numbers; hypercalls return their negation. */
export const KVM_EPERM = 1, KVM_EFAULT = 14, KVM_EOPNOTSUPP = 95, KVM_ENOSYS = 1000;

/** First dynamically assigned hypercall number (0x10000: clear of KVM's small numbers). */
export const HYPERCALL_DYNAMIC_BASE = 0x10000;

export const PVCLOCK_VCPU_TIME_INFO_SIZE = 32;
export const PVCLOCK_WALL_CLOCK_SIZE = 12;
export const KVM_CLOCK_PAIRING_SIZE = 64;

/** Arguments of a dynamic hypercall (EBX, ECX, EDX, ESI as unsigned 32-bit values). */
export type HypercallHandler = (a0: number, a1: number, a2: number, a3: number) => number;

export interface KvmParavirtOptions {
  /** Wall-clock time (ns since the Unix epoch) at guest time 0. Fixed, so virtual mode stays deterministic. */
  wallClockEpochNs: bigint;
  log?: (line: string) => void;
}

/** KVM's kvm_get_time_scale: mul and shift with ns = ((tsc << shift) * mul) >> 32 (negative shift: right). */
export function pvclockScale(tscHz: number): { mul: number; shift: number } {
  const scaled = 1_000_000_000n;
  let base = BigInt(Math.round(tscHz));
  let shift = 0;
  let s = scaled;
  while (base > s * 2n || base >> 32n) { base >>= 1n; shift--; }
  let tps32 = base;
  while (tps32 <= s || s >> 32n) {
    if (s >> 32n || tps32 & 0x80000000n) s >>= 1n; else tps32 <<= 1n;
    shift++;
  }
  return { mul: Number((s << 32n) / tps32), shift };
}

export class KvmParavirt {
  /** Last values written to the kvmclock MSRs (what RDMSR returns). */
  systemTimeMsr = 0n;
  wallClockMsr = 0n;
  private readonly scale: { mul: number; shift: number };
  private readonly hypercalls = new Map<number, { fn: HypercallHandler; name: string }>();
  private nextHypercall = HYPERCALL_DYNAMIC_BASE;
  private readonly log: GuestLog;
  private readonly epochNs: bigint;

  constructor(private readonly cpu: CPU, private readonly mem: PhysicalMemory, private readonly clock: Clock, opts: KvmParavirtOptions) {
    if (opts.wallClockEpochNs < 0n) throw new RangeError('wallClockEpochNs must not be before 1970');
    this.epochNs = opts.wallClockEpochNs;
    this.log = new GuestLog('kvm', opts.log);
    this.scale = pvclockScale(clock.tscHz);

    const prevCpuid = cpu.cpuidHook;
    cpu.cpuidHook = (leaf, sub) => this.cpuid(leaf) ?? prevCpuid?.(leaf, sub) ?? null;
    cpu.cpuidHypervisor = true;

    cpu.msr.handlers.set(MSR_KVM_WALL_CLOCK_NEW, {
      read: () => this.wallClockMsr,
      write: (v) => { this.wallClockMsr = v; this.writeWallClock(v); return true; },
    });
    cpu.msr.handlers.set(MSR_KVM_SYSTEM_TIME_NEW, {
      read: () => this.systemTimeMsr,
      write: (v) => { this.systemTimeMsr = v; this.updateSystemTime(); return true; },
    });
    // A TSC write moves tsc_timestamp's meaning; refresh the structure as KVM does.
    const tsc = cpu.msr.handlers.get(0x10);
    if (tsc) {
      cpu.msr.handlers.set(0x10, {
        read: () => tsc.read(),
        write: (v) => { const ok = tsc.write(v); if (ok) this.updateSystemTime(); return ok; },
      });
    }
    cpu.onHypercall = (c) => { this.hypercall(c); return true; };
  }

  /** The CPU was reset: kvmclock is off again. */
  reset(): void {
    this.systemTimeMsr = 0n;
    this.wallClockMsr = 0n;
  }

  /** Bind `fn` to a fresh hypercall number (≥ HYPERCALL_DYNAMIC_BASE) and return it. */
  registerHypercall(fn: HypercallHandler, name: string): number {
    const nr = this.nextHypercall++;
    this.hypercalls.set(nr, { fn, name });
    return nr;
  }

  unregisterHypercall(nr: number): void { this.hypercalls.delete(nr); }

  /** The current pvclock multiplier and shift for the guest TSC. */
  get tscScale(): { mul: number; shift: number } { return { ...this.scale }; }

  private cpuid(leaf: number): [number, number, number, number] | null {
    if (leaf === KVM_CPUID_SIGNATURE) return [KVM_CPUID_FEATURES, 0x4b4d564b, 0x564b4d56, 0x4d];
    if (leaf === KVM_CPUID_FEATURES) {
      return [(1 << KVM_FEATURE_NOP_IO_DELAY) | (1 << KVM_FEATURE_CLOCKSOURCE2) | (1 << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT), 0, 0, 0];
    }
    return null;
  }

  /** Guest RAM address for a structure of `len` bytes at a 64-bit MSR/hypercall address, or -1. */
  private ramAddr(addr: bigint, len: number): number {
    if (addr < 0n || addr + BigInt(len) > 0x100000000n || !this.mem.isRam(Number(addr), len)) return -1;
    return Number(addr);
  }

  /** Guest TSC at guest time `now` (the CPU's readTsc, without reading the clock twice). */
  private tscAt(now: number): number {
    return Math.max(0, Math.floor(now * (this.clock.tscHz / 1e9)) + this.cpu.tscOffset);
  }

  private put32(addr: number, v: number): void { this.mem.write(addr, 4, v >>> 0); }

  private writeWallClock(msr: bigint): void {
    const a = this.ramAddr(msr, PVCLOCK_WALL_CLOCK_SIZE);
    if (a < 0) { this.log.warn(`MSR_KVM_WALL_CLOCK_NEW address 0x${msr.toString(16)} is not RAM`); return; }
    let version = this.mem.read(a, 4);
    if (version & 1) version++; // never initialised: junk
    version = (version + 1) >>> 0;
    this.put32(a, version);
    // Wall time at guest time 0 (KVM: real time now minus kvmclock now).
    this.put32(a + 4, Number(BigInt.asUintN(32, this.epochNs / 1_000_000_000n)));
    this.put32(a + 8, Number(this.epochNs % 1_000_000_000n));
    this.put32(a, version + 1);
  }

  private updateSystemTime(): void {
    const v = this.systemTimeMsr;
    if (!(v & 1n)) return;
    const a = this.ramAddr(v & ~1n, PVCLOCK_VCPU_TIME_INFO_SIZE);
    if (a < 0) { this.log.warn(`MSR_KVM_SYSTEM_TIME_NEW address 0x${(v & ~1n).toString(16)} is not RAM`); return; }
    const now = this.clock.now();
    const tsc = this.tscAt(now);
    const version = ((this.mem.read(a, 4) + 1) | 1) >>> 0;
    const stopped = this.mem.read(a + 29, 1) & PVCLOCK_GUEST_STOPPED;
    this.put32(a, version);
    const body = new Uint8Array(PVCLOCK_VCPU_TIME_INFO_SIZE - 4);
    const d = new DataView(body.buffer);
    // Offsets relative to a + 4: pad0, tsc_timestamp, system_time, mul, shift, flags, pad.
    d.setBigUint64(4, BigInt(tsc), true);
    d.setBigUint64(12, BigInt(Math.floor(now)), true);
    d.setUint32(20, this.scale.mul, true);
    d.setInt8(24, this.scale.shift);
    d.setUint8(25, PVCLOCK_TSC_STABLE_BIT | stopped);
    this.mem.writeBytes(a + 4, body);
    this.put32(a, version + 1);
  }

  private hypercall(c: CPU): void {
    const nr = c.regs[Reg.EAX]! >>> 0;
    const a0 = c.regs[Reg.EBX]! >>> 0, a1 = c.regs[Reg.ECX]! >>> 0, a2 = c.regs[Reg.EDX]! >>> 0, a3 = c.regs[Reg.ESI]! >>> 0;
    let ret: number;
    const cpl = c.v86 ? 3 : c.protectedMode ? c.cpl : 0;
    if (cpl !== 0) ret = -KVM_EPERM;
    else if (nr === KVM_HC_VAPIC_POLL_IRQ) ret = 0;
    else if (nr === KVM_HC_CLOCK_PAIRING) ret = this.clockPairing(a0, a1);
    else {
      const h = this.hypercalls.get(nr);
      ret = h ? h.fn(a0, a1, a2, a3) : -KVM_ENOSYS;
    }
    c.regs[Reg.EAX] = ret | 0;
  }

  private clockPairing(paddr: number, clockType: number): number {
    if (clockType !== KVM_CLOCK_PAIRING_WALLCLOCK) return -KVM_EOPNOTSUPP;
    const a = this.ramAddr(BigInt(paddr), KVM_CLOCK_PAIRING_SIZE);
    if (a < 0) { this.log.warn(`KVM_HC_CLOCK_PAIRING address 0x${paddr.toString(16)} is not RAM`); return -KVM_EFAULT; }
    const now = this.clock.now();
    const wall = this.epochNs + BigInt(Math.floor(now));
    const s = new Uint8Array(KVM_CLOCK_PAIRING_SIZE);
    const d = new DataView(s.buffer);
    d.setBigInt64(0, wall / 1_000_000_000n, true);
    d.setBigInt64(8, wall % 1_000_000_000n, true);
    d.setBigUint64(16, BigInt(this.tscAt(now)), true);
    this.mem.writeBytes(a, s);
    return 0;
  }
}
