/**
 * PCI bus 0 behind configuration mechanism #1 (PCI Local Bus spec 3.0, 3.2.2.3.2):
 * 0xCF8 is the 32-bit CONFIG_ADDRESS (bit 31 enable, bus 23:16, device 15:11, function 10:8,
 * register 7:2), written by dword accesses only; 0xCFC–0xCFF is CONFIG_DATA, reached with byte,
 * word or dword accesses at any offset. Absent functions, other buses, or a clear enable bit read
 * all ones. Port 0xCF9 is left free for the reset control register.
 *
 * The bus also decodes the functions' BARs: I/O BARs are registered on the IoBus, memory BARs are
 * served from the PCI memory window (QEMU-like: a BAR that decoding is off for, that is 0, wraps
 * past 4 GiB, falls outside the window or collides with another decoder stays unmapped).
 */
import type { AccessSize, IoBus, PortHandler } from '../io.js';
import { PageKind, type MmioHandler, type PhysicalMemory } from '../memory.js';
import { GuestLog } from './guest-log.js';
import { PCI_COMMAND, type BarHandler, type BarIoEventFd, type PciFunction } from './function.js';

export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;
/** Design default: 0xC0000000 – 0xFEBFFFFF. */
export const PCI_MMIO_WINDOW = { base: 0xc0000000, size: 0xfec00000 - 0xc0000000 } as const;

export interface PciBusOptions {
  io: IoBus;
  mem: PhysicalMemory;
  mmioWindow?: { base: number; size: number };
  /**
   * A function's INTx# output changed; the platform routes (device, pin) to a GSI. `pin` is the
   * Interrupt Pin register (1 = INTA#); the MP table and `pciIntxGsi` count from 0.
   */
  setIntx?: (device: number, fn: number, pin: number, level: boolean) => void;
  /** An MSI/MSI-X message: a dword write of `data` to the 64-bit address hi:lo. */
  sendMsi?: (addressLo: number, addressHi: number, data: number) => void;
  log?: (line: string) => void;
}

interface Mapping { fn: PciFunction; bar: number; addr: number; size: number; handler: BarHandler | undefined; io?: PortHandler }

const ALL_ONES = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

export class PciBus {
  configAddress = 0;
  private readonly slots: (PciFunction | undefined)[] = new Array(256);
  private readonly io: IoBus;
  private readonly mem: PhysicalMemory;
  private readonly window: { base: number; size: number };
  /** Mapping index + 1 per page of the memory window. */
  private readonly windowPages: Uint16Array;
  private readonly mappings: (Mapping | undefined)[] = [];
  /** Per (function, BAR): the address the guest asked for and the mapping made for it, if any. */
  private readonly current = new Map<PciFunction, ({ want: number; mapping: Mapping | undefined } | undefined)[]>();
  private readonly log: GuestLog;

  constructor(private readonly opts: PciBusOptions) {
    this.io = opts.io;
    this.mem = opts.mem;
    this.window = opts.mmioWindow ?? PCI_MMIO_WINDOW;
    if (this.window.base % 4096 || this.window.size % 4096) throw new RangeError('PCI memory window must be page aligned');
    this.windowPages = new Uint16Array(this.window.size >>> 12);
    this.log = new GuestLog('pci', opts.log);

    // Narrower reads return the register's low bytes whatever the port, as QEMU's do.
    const addr: PortHandler = {
      read: (_p, size) => size === 4 ? this.configAddress : this.configAddress & ALL_ONES[size],
      write: (p, size, v) => { if (size === 4 && p === PCI_CONFIG_ADDRESS) this.configAddress = (v & 0x80fffffc) >>> 0; },
    };
    const data: PortHandler = { read: (p, s) => this.dataRead(p, s), write: (p, s, v) => this.dataWrite(p, s, v) };
    this.io.register(PCI_CONFIG_ADDRESS, 1, addr, 'pci-config-address');
    this.io.register(PCI_CONFIG_ADDRESS + 2, 2, addr, 'pci-config-address');
    this.io.register(PCI_CONFIG_DATA, 4, data, 'pci-config-data');

    // The window claims only what nothing else decodes, so it never hides RAM or chipset MMIO.
    const win: MmioHandler = { read: (o, s) => this.windowRead(o, s), write: (o, s, v) => this.windowWrite(o, s, v) };
    const first = this.window.base >>> 12, end = first + (this.window.size >>> 12);
    for (const [p, q] of this.mem.runsOf(PageKind.Unmapped, first, end)) this.mem.mapMmio(p * 4096, (q - p) * 4096, win, 'pci-mmio-window');
  }

  /** Attach `f` at 00:device.fn. */
  add(f: PciFunction, device: number, fn = 0): void {
    if (!(device >= 0 && device < 32 && fn >= 0 && fn < 8)) throw new RangeError(`PCI 00:${device}.${fn} is not a valid slot`);
    const devfn = (device << 3) | fn;
    if (this.slots[devfn]) throw new Error(`PCI 00:${device}.${fn} is taken`);
    this.slots[devfn] = f;
    f.bus = this; f.device = device; f.fn = fn;
    this.current.set(f, new Array(6));
    // Header type bit 7 on function 0 tells scanners to look at functions 1–7.
    const f0 = this.slots[device << 3];
    if (f0 && fn !== 0) f0.config[0x0e] |= 0x80;
    if (fn === 0) for (let i = 1; i < 8; i++) if (this.slots[devfn + i]) f.config[0x0e] |= 0x80;
    f.attached();
    this.updateMappings(f);
  }

  function(device: number, fn = 0): PciFunction | undefined { return this.slots[((device & 31) << 3) | (fn & 7)]; }

  /** Configuration read as the CPU would issue it through mechanism #1 (firmware, tests). */
  configRead(bus: number, device: number, fn: number, offset: number, size: AccessSize): number {
    const f = bus === 0 ? this.function(device, fn) : undefined;
    if (!f || offset + size > 256) return ALL_ONES[size];
    return f.configRead(offset, size);
  }

  configWrite(bus: number, device: number, fn: number, offset: number, size: AccessSize, value: number): void {
    const f = bus === 0 ? this.function(device, fn) : undefined;
    if (f && offset + size <= 256) f.configWrite(offset, size, value);
  }

  private target(): { f: PciFunction | undefined; reg: number } | null {
    const a = this.configAddress;
    if (!(a & 0x80000000)) return null;
    const bus = (a >>> 16) & 0xff;
    return { f: bus === 0 ? this.slots[(a >>> 8) & 0xff] : undefined, reg: a & 0xfc };
  }

  private dataRead(port: number, size: AccessSize): number {
    const t = this.target();
    const k = port & 3;
    if (!t || !t.f) return ALL_ONES[size];
    if (k + size <= 4) return t.f.configRead(t.reg + k, size);
    // Bytes past 0xCFF belong to other ports, which nothing here decodes.
    let v = 0;
    for (let i = 0; i < size; i++) v |= (k + i < 4 ? t.f.configRead(t.reg + k + i, 1) : 0xff) << (i * 8);
    return v >>> 0;
  }

  private dataWrite(port: number, size: AccessSize, value: number): void {
    const t = this.target();
    const k = port & 3;
    if (!t || !t.f) return;
    if (k + size <= 4) { t.f.configWrite(t.reg + k, size, value); return; }
    for (let i = 0; k + i < 4; i++) t.f.configWrite(t.reg + k + i, 1, value >>> (i * 8));
  }

  // ------------------------------------------------------------ BAR decoding

  /** Re-evaluate where `f`'s BARs decode (after a command or BAR write). */
  updateMappings(f: PciFunction): void {
    const cur = this.current.get(f);
    if (!cur) return;
    const cmd = f.command;
    for (let i = 0; i < 6; i++) {
      const def = f.bars[i];
      if (!def) continue;
      // The high dword of a 64-bit BAR: anything above 4 GiB is out of this platform's reach.
      const high = def.is64 ? f.barRegister(i + 1) : 0;
      const want = high !== 0 ? -1 : this.barAddress(def.kind, def.size, f.barRegister(i), cmd);
      const have = cur[i];
      // Unchanged request: nothing to do, even if it could not be honoured last time.
      if ((have?.want ?? -1) === want) continue;
      if (have?.mapping) this.unmap(have.mapping);
      const m: Mapping = { fn: f, bar: i, addr: want, size: def.size, handler: def.handler };
      const ok = want >= 0 && this.map(m);
      cur[i] = { want, mapping: ok ? m : undefined };
      const before = have?.mapping?.addr ?? -1, after = ok ? want : -1;
      if (before !== after) f.barMoved(i, after);
    }
  }

  /**
   * @internal PciFunction: register a BAR ioeventfd at its decoded address. A clash with an
   * ioeventfd registered there outside any BAR is logged, not thrown: a guest BAR write caused it.
   */
  addIoEventFd(kind: 'io' | 'mem', addr: number, fd: BarIoEventFd): (() => void) | null {
    const o = { addr, length: fd.length, data: fd.data, channel: fd.channel };
    try {
      return kind === 'io' ? this.io.addIoEventFd(o) : this.mem.addIoEventFd(o);
    } catch (e) {
      this.log.warn(`ioeventfd at 0x${addr.toString(16)}: ${(e as Error).message}`);
      return null;
    }
  }

  /** Decoded base of a BAR or -1, as QEMU's pci_bar_address decides. */
  private barAddress(kind: 'io' | 'mem', size: number, reg: number, cmd: number): number {
    if (kind === 'io') {
      if (!(cmd & PCI_COMMAND.IO)) return -1;
      const a = (reg & ~3 & ~(size - 1)) >>> 0;
      return a === 0 || a + size > 0x10000 ? -1 : a;
    }
    if (!(cmd & PCI_COMMAND.MEMORY)) return -1;
    const a = (reg & ~0xf & ~(size - 1)) >>> 0;
    return a === 0 || a + size - 1 >= 0xffffffff ? -1 : a;
  }

  private map(m: Mapping): boolean {
    const where = `${m.fn.device.toString(16).padStart(2, '0')}.${m.fn.fn} BAR${m.bar} at 0x${m.addr.toString(16)}`;
    if (m.fn.bars[m.bar]!.kind === 'io') {
      for (let p = m.addr; p < m.addr + m.size; p++) {
        const owner = this.io.ownerName(p);
        if (owner !== undefined) { this.log.warn(`${where} overlaps ${owner}; left unmapped`); return false; }
      }
      m.io = {
        read: (port, size) => this.barRead(m, port - m.addr, size),
        write: (port, size, v) => this.barWrite(m, port - m.addr, size, v),
      };
      this.io.register(m.addr, m.size, m.io, `pci ${where}`);
      return true;
    }
    const w = this.window;
    if (m.addr < w.base || m.addr + m.size > w.base + w.size) { this.log.warn(`${where} is outside the PCI memory window; left unmapped`); return false; }
    const first = (m.addr - w.base) >>> 12, n = m.size >>> 12;
    for (let p = first; p < first + n; p++) {
      const page = (m.addr >>> 12) + (p - first);
      if (this.windowPages[p] !== 0 || this.mem.regionName(page * 4096) !== 'pci-mmio-window') {
        this.log.warn(`${where} overlaps another decoder; left unmapped`);
        return false;
      }
    }
    let idx = this.mappings.indexOf(undefined);
    if (idx < 0) { idx = this.mappings.length; this.mappings.push(undefined); }
    if (idx >= 0xffff) return false;
    this.mappings[idx] = m;
    this.windowPages.fill(idx + 1, first, first + n);
    return true;
  }

  private unmap(m: Mapping): void {
    if (m.io) { this.io.unregister(m.addr, m.size); return; }
    const first = (m.addr - this.window.base) >>> 12;
    const idx = this.windowPages[first]! - 1;
    this.windowPages.fill(0, first, first + (m.size >>> 12));
    if (idx >= 0) this.mappings[idx] = undefined;
  }

  private windowRead(off: number, size: AccessSize): number {
    const idx = this.windowPages[off >>> 12]!;
    if (idx === 0) return ALL_ONES[size];
    const m = this.mappings[idx - 1]!;
    return this.barRead(m, this.window.base + off - m.addr, size);
  }

  private windowWrite(off: number, size: AccessSize, value: number): void {
    const idx = this.windowPages[off >>> 12]!;
    if (idx === 0) return;
    const m = this.mappings[idx - 1]!;
    this.barWrite(m, this.window.base + off - m.addr, size, value);
  }

  private barRead(m: Mapping, off: number, size: AccessSize): number {
    if (off + size > m.size) {
      let v = 0;
      for (let i = 0; i < size; i++) v |= (off + i < m.size ? this.barRead(m, off + i, 1) : 0xff) << (i * 8);
      return v >>> 0;
    }
    const msix = m.fn.msixBarRead(m.bar, off, size);
    if (msix !== undefined) return msix;
    return m.handler ? m.handler.read(off, size) : ALL_ONES[size];
  }

  private barWrite(m: Mapping, off: number, size: AccessSize, value: number): void {
    if (off + size > m.size) {
      for (let i = 0; off + i < m.size; i++) this.barWrite(m, off + i, 1, value >>> (i * 8));
      return;
    }
    if (m.fn.msixBarWrite(m.bar, off, size, value)) return;
    m.handler?.write(off, size, value);
  }

  // ------------------------------------------------------------ interrupts

  /** @internal PciFunction reports its INTx# output. */
  intxChanged(f: PciFunction, level: boolean): void {
    this.opts.setIntx?.(f.device, f.fn, f.config[0x3d]!, level);
  }

  /** @internal PciFunction sends an MSI-X message. */
  sendMsi(addressLo: number, addressHi: number, data: number): void {
    this.opts.sendMsi?.(addressLo, addressHi, data);
  }
}
