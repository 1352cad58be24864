/**
 * A PC: RAM, the port and memory buses, one clock, the CPU, the in-kernel irqchip, the platform
 * devices and the firmware loaders, wired as design.md §2 describes. The host (CLI, browser page,
 * tests) drives it with `runSlice` / `run` and talks to it through callbacks.
 */
import { PhysicalMemory } from '../bus/memory.js';
import { IoBus } from '../bus/io.js';
import { Clock, type ClockMode } from '../bus/clock.js';
import { CPU, MSR_APIC_BASE, MSR_TSC_DEADLINE } from '../cpu/index.js';
import { createInterruptControllers, type InterruptControllers } from '../irqchip/index.js';
import { Pit } from '../devices/pit.js';
import { Rtc } from '../devices/rtc.js';
import { Uart16550 } from '../devices/uart16550.js';
import { DebugExit } from '../devices/debug-exit.js';
import { Debugcon } from '../devices/debugcon.js';
import { PostCode } from '../devices/post-code.js';
import { PcTestdev } from '../devices/pc-testdev.js';
import { I8042 } from '../devices/i8042.js';
import { Port92 } from '../devices/port92.js';
import { A20Gate } from '../devices/a20.js';
import { KvmParavirt } from '../devices/kvm-paravirt.js';
import { FwCfg } from '../devices/fw-cfg.js';
import { PciBus, HostBridge } from '../bus/pci/index.js';
import { Injector } from '../channels/injector.js';
import { assignPciBars } from '../firmware/pci-bars.js';
import { VirtioNet } from '../devices/virtio-net/index.js';
import type { NetBackend } from '../devices/net-backend.js';
import { UserNetwork } from './net/user-network.js';
import { bootKernel, pciIntxGsi, writeMpTable, writePirTable, DEFAULT_IOAPIC_ID, type BootOptions } from '../firmware/index.js';

export interface MachineOptions {
  memoryMiB?: number;
  /** Guest RAM in a SharedArrayBuffer, so device-model workers can reach it. */
  sharedRam?: boolean;
  clock?: ClockMode;
  /** Linux bzImage or Multiboot kernel. */
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  modules?: BootOptions['modules'];
  cmdline?: string;
  /** A 64 or 128 KiB ROM started at the reset vector instead of a kernel. */
  bios?: Uint8Array;
  /** Guest wall-clock epoch in ms (RTC, kvmclock). Virtual mode defaults to a fixed date. */
  epochMs?: number;
  /** Include the PCI network card (default true). */
  defaultDevices?: boolean;
  /** The virtio-net card (with the default devices). */
  virtioNet?: VirtioNetConfig;
  /** COM1 transmit. */
  onSerial?: (byte: number) => void;
  /** QEMU debugcon (port 0xE9) output. */
  onDebugcon?: (byte: number) => void;
  /** POST codes (port 0x80). */
  onPost?: (code: number) => void;
  /** Runs of a block before its code is compiled (cpu/codegen.ts); Infinity = interpreter only. */
  compileThreshold?: number;
  /** The code generator's back end (default: WebAssembly where the engine has it). */
  backEnd?: 'wasm' | 'js';
  /**
   * Compile WebAssembly regions in the background (default true: the compile stays off the
   * guest's thread; the caller's run loop must yield to the event loop for them to attach).
   */
  compileAsync?: boolean;
}

/** Why a ROM image cannot be mapped at the reset vector, or null when it can. */
export function biosImageProblem(rom: Uint8Array): string | null {
  return rom.length === 0x10000 || rom.length === 0x20000 ? null : `must be 64 KiB or 128 KiB, not ${rom.length} bytes`;
}

export interface VirtioNetConfig {
  /**
   * Where the data path runs: 'inline' on the CPU thread (the default; required by the virtual
   * clock), or 'remote': the host starts it in a worker from `machine.virtioNet.remote`
   * (needs `sharedRam`).
   */
  placement?: 'inline' | 'remote';
  /** Inline only: the network behind the card (default: the user-mode network, no host sockets). */
  backend?: NetBackend;
  /** 'hypercall': also advertise one VMCALL number per queue in a vendor capability. */
  notify?: 'mmio' | 'hypercall';
  /** The card's MAC (default 52:54:00:12:34:56, as QEMU's first NIC). */
  mac?: Uint8Array;
}

/** The card's slot: 00:03.0, as QEMU places its first NIC. */
export const VIRTIO_NET_SLOT = 3;

export type SliceResult = 'running' | 'idle' | 'shutdown';

/** Fixed guest epoch for deterministic runs: 2026-01-01T00:00:00Z. */
export const VIRTUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

export class Machine {
  readonly mem: PhysicalMemory;
  readonly io = new IoBus();
  readonly clock: Clock;
  readonly cpu: CPU;
  readonly chips: InterruptControllers;
  readonly epochMs: number;
  readonly pit: Pit;
  readonly rtc: Rtc;
  readonly uart: Uart16550;
  readonly pci: PciBus;
  readonly kvm: KvmParavirt;
  /** Consumes channels signalled by device models; shared ones are polled in `runSlice`. */
  readonly injector = new Injector();
  readonly virtioNet: VirtioNet | null = null;
  /** Set when the guest (or a device) ends the run: exit status for the host. */
  exitStatus: number | null = null;
  shutdownReason: string | null = null;

  /** The options less the boot images, which are megabytes and done with once in guest memory. */
  readonly opts: Omit<MachineOptions, 'bios' | 'kernel' | 'initrd' | 'modules'>;

  constructor(opts: MachineOptions) {
    const { bios: _bios, kernel: _kernel, initrd: _initrd, modules: _modules, ...kept } = opts;
    this.opts = kept;
    const mib = opts.memoryMiB ?? 128;
    if (!Number.isInteger(mib) || mib < 2 || mib > 2048) throw new Error(`memory size ${mib} MiB is out of range (2-2048)`);
    this.mem = new PhysicalMemory(mib << 20, { shared: opts.sharedRam });
    // The VGA window reads as open bus; there is no display adapter.
    this.mem.unmap(0xa0000, 0x20000);
    this.clock = new Clock(opts.clock ?? 'realtime');
    this.epochMs = opts.epochMs ?? (this.clock.mode === 'virtual' ? VIRTUAL_EPOCH_MS : Date.now());
    const cpu = this.cpu = new CPU({ mem: this.mem, io: this.io, clock: this.clock, compileThreshold: opts.compileThreshold, backEnd: opts.backEnd, compileAsync: opts.compileAsync ?? true });
    cpu.onShutdown = (reason) => { this.shutdownReason = `guest ${reason}: the machine stopped`; };

    this.chips = createInterruptControllers({
      io: this.io, mem: this.mem, clock: this.clock,
      onIntrChange: () => cpu.requestInterruptCheck(),
      onNmi: () => cpu.nmi(),
      ioapicId: DEFAULT_IOAPIC_ID,
    });
    const lapic = this.chips.lapic;
    cpu.interrupts = lapic;
    cpu.cpuidApic = true;
    // The LAPIC implements TSC-deadline mode; advertising it spares Linux calibrating the LAPIC timer.
    cpu.cpuidTscDeadline = true;
    cpu.msr.handlers.set(MSR_APIC_BASE, { read: () => lapic.readApicBase(), write: (v) => lapic.writeApicBase(v) });
    cpu.msr.handlers.set(MSR_TSC_DEADLINE, { read: () => lapic.readTscDeadline(), write: (v) => { lapic.writeTscDeadline(v); return true; } });

    const router = this.chips.router;
    const isa = (irq: number) => (level: boolean) => router.setLevel(irq, level);
    this.pit = new Pit(this.io, this.clock, { irq0: isa(0) });
    this.rtc = new Rtc(this.io, this.clock, { irq: isa(8), epochSeconds: this.epochMs / 1000, ramSize: this.mem.ramSize });
    this.uart = new Uart16550(this.io, this.clock, { irq: isa(4), onTransmit: opts.onSerial ?? (() => {}) });
    // A guest reset (8042 pulse, port 0x92, triple fault) stops the machine, as QEMU's -no-reboot does.
    const onReset = () => { this.shutdownReason ??= 'guest requested a reset: the machine stopped'; this.exitStatus ??= 0; };
    // A20 masking is not modelled: the gate is reported (and starts enabled, as QEMU's does).
    const a20 = new A20Gate();
    new I8042(this.io, { irq1: isa(1), irq12: isa(12), onReset, a20 });
    new Port92(this.io, { onReset, a20 });
    new DebugExit(this.io, (status) => { this.exitStatus ??= status; });
    new Debugcon(this.io, opts.onDebugcon ?? (() => {}));
    // After the debug console, so port 0xE9 stays the console's (pc-testdev's byte window skips it).
    new PcTestdev(this.io, this.mem, (irq, level) => router.setLevel(irq, level));
    new PostCode(this.io, opts.onPost ?? (() => {}));
    new FwCfg(this.io, this.mem, { ramSize: this.mem.ramSize });
    // FERR# raises IRQ 13 until the guest writes port 0xF0, as on PC/AT boards.
    cpu.onFerr = () => router.setLevel(13, true);
    this.io.register(0xf0, 1, { read: () => 0xff, write: () => router.setLevel(13, false) }, 'fpu-error');
    this.kvm = new KvmParavirt(cpu, this.mem, this.clock, { wallClockEpochNs: BigInt(Math.round(this.epochMs)) * 1_000_000n });
    // PCI INTx lines are routed to IOAPIC pins as the MP table says.
    this.pci = new PciBus({
      io: this.io, mem: this.mem,
      // Config space counts pins from 1 (INTA#), the MP table from 0.
      setIntx: (device, _fn, pin, level) => router.setLevel(pciIntxGsi(device, pin - 1), level),
      sendMsi: (lo, hi, data) => { if (hi === 0) router.sendMsi(lo, data); },
    });
    this.pci.add(new HostBridge(), 0);
    if (opts.defaultDevices !== false) {
      const v = opts.virtioNet ?? {};
      const placement = this.clock.mode === 'virtual' ? 'inline' : v.placement ?? 'inline';
      this.virtioNet = new VirtioNet({
        mem: this.mem, router, injector: this.injector, intxGsi: pciIntxGsi(VIRTIO_NET_SLOT, 0), placement,
        backend: placement === 'inline' ? v.backend ?? new UserNetwork() : undefined,
        hypercalls: v.notify === 'hypercall' ? this.kvm : undefined, mac: v.mac,
      });
      this.pci.add(this.virtioNet.pci, VIRTIO_NET_SLOT);
    }
    assignPciBars(this.pci);

    if (opts.bios) this.loadBios(opts.bios);
    else if (opts.kernel) {
      const [sig, , , features] = cpu.cpuid(1, 0);
      const pci = opts.defaultDevices !== false;
      writeMpTable(this.mem, { cpuSignature: sig, cpuFeatures: features, pci, pciDevices: pci ? [{ device: VIRTIO_NET_SLOT, pin: 0 }] : [] });
      writePirTable(this.mem);
      const st = bootKernel(this.mem, opts.kernel, { cmdline: opts.cmdline, initrd: opts.initrd, modules: opts.modules });
      cpu.loadBootState(st);
    }
  }

  /** Maps a reset-vector ROM below 1 MiB and below 4 GiB; the CPU starts at F000:FFF0. */
  private loadBios(rom: Uint8Array): void {
    const problem = biosImageProblem(rom);
    if (problem) throw new Error(`BIOS image ${problem}`);
    this.mem.mapRom(0x100000 - rom.length, rom, 'bios');
    this.mem.mapRom(0x100000000 - rom.length, rom, 'bios-high');
    this.cpu.reset();
  }

  /** Host keyboard input for COM1. */
  serialInput(bytes: Uint8Array): void { this.uart.receive(bytes); }

  /**
   * Runs the CPU for up to `budget` instructions, firing timers on time. A halted CPU skips to the
   * next timer in virtual mode; in realtime mode the caller sleeps (`idle` with a deadline).
   */
  runSlice(budget: number): SliceResult {
    const cpu = this.cpu, clock = this.clock;
    let left = budget;
    while (left > 0) {
      if (this.exitStatus !== null || this.shutdownReason !== null || cpu.shutdown) return 'shutdown';
      // Device models in workers: their DMA first (stale decoded code), then their signals.
      this.virtioNet?.syncDma();
      this.injector.poll();
      clock.runDue();
      if (cpu.halted && !cpu.wakeable) {
        if (this.nothingCanWake()) {
          this.shutdownReason = 'guest halted with interrupts disabled and no NMI source (cli; hlt): nothing can wake it, the machine stopped';
          return 'shutdown';
        }
        const next = clock.nextDeadline();
        if (clock.mode === 'virtual' && next !== Infinity) {
          // Skipped time counts against the budget, so a halted guest still hands control back.
          left -= Math.ceil((next - clock.now()) / clock.nsPerInstruction);
          clock.skipTo(next);
          continue;
        }
        return 'idle';
      }
      let n = left;
      if (clock.mode === 'virtual') {
        const next = clock.nextDeadline();
        if (next !== Infinity) n = Math.max(1, Math.min(n, Math.ceil((next - clock.now()) / clock.nsPerInstruction)));
      } else n = Math.min(n, 20000);
      const done = cpu.run(n);
      left -= Math.max(done, 1);
    }
    return 'running';
  }

  /**
   * Halted with IF clear, and no NMI can arrive: NMIs are blocked (halted inside an NMI handler)
   * or neither the IOAPIC nor the 8259 through LINT0 delivers any. MSIs in NMI mode are not
   * looked for (no ts86 device is asked to send one).
   */
  private nothingCanWake(): boolean {
    const cpu = this.cpu;
    if (cpu.interruptFlag) return false;
    return cpu.nmiBlocked || !(this.chips.ioapic.routesNmi() || this.chips.lapic.picRoutesNmi());
  }
}
