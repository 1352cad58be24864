/**
 * One PCI function's configuration space (PCI Local Bus spec 3.0, type 0 header) with the
 * behaviour QEMU gives it: per-byte write masks and write-1-to-clear masks, BARs sized by the
 * all-ones probe, a capability list, MSI-X (table and PBA in a memory BAR) and INTx.
 *
 * Device models extend this class, declare their BARs and capabilities in the constructor,
 * register ioeventfds relative to a BAR (`addBarIoEventFd`: they follow the BAR when the guest
 * moves it) and may override `barMapped` and `msixChanged`. An attached `MsixDelivery` (the MSI
 * shim, msix-routing.ts) mirrors the MSI-X table into GSI routes and carries the messages.
 * Where the function sits and how its BARs reach the port and memory buses is the PciBus's business.
 */
import type { AccessSize } from '../io.js';
import type { EventChannel } from '../../channels/event-channel.js';
import type { PciBus } from './bus.js';

export const PCI = {
  VENDOR_ID: 0x00, DEVICE_ID: 0x02, COMMAND: 0x04, STATUS: 0x06, REVISION: 0x08, CLASS_PROG: 0x09,
  CACHE_LINE_SIZE: 0x0c, LATENCY_TIMER: 0x0d, HEADER_TYPE: 0x0e, BAR0: 0x10, SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e, ROM_ADDRESS: 0x30, CAPABILITY_LIST: 0x34, INTERRUPT_LINE: 0x3c, INTERRUPT_PIN: 0x3d,
} as const;
export const PCI_COMMAND = { IO: 1, MEMORY: 2, MASTER: 4, PARITY: 0x40, SERR: 0x100, INTX_DISABLE: 0x400 } as const;
export const PCI_STATUS = { INTERRUPT: 0x08, CAP_LIST: 0x10 } as const;
export const PCI_CAP_ID = { MSI: 0x05, VENDOR: 0x09, MSIX: 0x11 } as const;
export const MSIX_CONTROL = { TABLE_SIZE_MASK: 0x7ff, FUNCTION_MASK: 0x4000, ENABLE: 0x8000 } as const;
/** MSI-X table entry: address low, address high, data, vector control (bit 0 = masked). */
export const MSIX_ENTRY_SIZE = 16;
/** Red Hat/Qumranet subsystem ids, QEMU's default for every device. */
const DEFAULT_SUBSYSTEM_VENDOR = 0x1af4, DEFAULT_SUBSYSTEM = 0x1100;

export interface BarHandler {
  /** `offset` is relative to the BAR's base; offset + size never exceeds the BAR. */
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

export interface BarDef {
  kind: 'io' | 'mem';
  /** Power of two: at least 4 for I/O, at least 4096 (one page) for memory. */
  size: number;
  prefetchable?: boolean;
  /** 64-bit memory BAR: also takes the next BAR register (the high dword). */
  is64?: boolean;
  /** The device's registers in this BAR (MSI-X table and PBA accesses are routed before this). */
  handler?: BarHandler;
}

export interface PciIds {
  vendorId: number;
  deviceId: number;
  /** 24-bit class code: base class << 16 | subclass << 8 | programming interface. */
  classCode: number;
  revision?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** 1 = INTA# … 4 = INTD#; 0 = no INTx. */
  interruptPin?: number;
}

export interface MsixVector { addressLo: number; addressHi: number; data: number; masked: boolean }

/** An ioeventfd at `offset` in a BAR (see IoEventFdOptions for `length` and `data`). */
export interface BarIoEventFd { offset: number; length?: 0 | AccessSize; data?: number; channel: EventChannel }

/** The MSI shim's side of a function (msix-routing.ts). */
export interface MsixDelivery {
  /** Vector `vector` (null: every vector) may have changed deliverability or address/data. */
  update(vector: number | null): void;
  /** Send vector `vector`'s message now (it is enabled, unmasked, bus master on). */
  send(vector: number): void;
}

interface MsixState {
  cap: number;
  vectors: number;
  bar: number;
  tableOffset: number;
  pbaOffset: number;
  table: Uint32Array;
  pending: Uint8Array;
}

const pow2 = (n: number): boolean => n > 0 && Number.isInteger(n) && (n & (n - 1)) === 0;

export class PciFunction {
  readonly config = new Uint8Array(256);
  /** Bits the guest may write. */
  protected readonly wmask = new Uint8Array(256);
  /** Bits a guest write of 1 clears. */
  protected readonly w1cmask = new Uint8Array(256);
  readonly bars: (BarDef | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  /** Set by PciBus.add. */
  bus: PciBus | null = null;
  device = -1;
  fn = -1;
  private capEnd = 0x40;
  private lastCap = 0;
  private msix: MsixState | null = null;
  private msixDelivery: MsixDelivery | null = null;
  /** BAR index -> the upper half of a 64-bit BAR. */
  private readonly upperHalf = new Uint8Array(6);
  /** Decoded base per BAR (-1: not decoded), kept by the bus. */
  private readonly barBase = [-1, -1, -1, -1, -1, -1];
  private readonly barFds: { bar: number; fd: BarIoEventFd; remove: (() => void) | null }[] = [];
  /** Configuration at attach time: what `pciReset` returns to. */
  private powerOn: Uint8Array | null = null;
  private intxLevel = false;
  /** What the function drives on its INTx# pin. */
  private intxOut = false;

  constructor(ids: PciIds) {
    const c = this.config;
    this.set16(PCI.VENDOR_ID, ids.vendorId);
    this.set16(PCI.DEVICE_ID, ids.deviceId);
    c[PCI.REVISION] = ids.revision ?? 0;
    c[PCI.CLASS_PROG] = ids.classCode & 0xff;
    c[PCI.CLASS_PROG + 1] = (ids.classCode >>> 8) & 0xff;
    c[PCI.CLASS_PROG + 2] = (ids.classCode >>> 16) & 0xff;
    this.set16(PCI.SUBSYSTEM_VENDOR_ID, ids.subsystemVendorId ?? DEFAULT_SUBSYSTEM_VENDOR);
    this.set16(PCI.SUBSYSTEM_ID, ids.subsystemId ?? DEFAULT_SUBSYSTEM);
    c[PCI.INTERRUPT_PIN] = ids.interruptPin ?? 0;
    const cmd = PCI_COMMAND.IO | PCI_COMMAND.MEMORY | PCI_COMMAND.MASTER | PCI_COMMAND.PARITY | PCI_COMMAND.SERR | PCI_COMMAND.INTX_DISABLE;
    this.wmask[PCI.COMMAND] = cmd & 0xff;
    this.wmask[PCI.COMMAND + 1] = cmd >>> 8;
    this.w1cmask[PCI.STATUS + 1] = 0xf9; // parity and abort/error bits
    this.wmask[PCI.CACHE_LINE_SIZE] = 0xff;
    this.wmask[PCI.INTERRUPT_LINE] = 0xff;
  }

  // ------------------------------------------------------------ set-up (host side)

  /**
   * Declare BAR `index` (0–5). A 64-bit memory BAR also takes register `index + 1` for bits
   * 63:32 (PCI 3.0, 6.2.5.1: type 10b); this 32-bit platform decodes it only below 4 GiB.
   */
  defineBar(index: number, def: BarDef): void {
    const taken = (i: number): boolean => this.bars[i] !== undefined || this.upperHalf[i] === 1;
    if (!(index >= 0 && index < 6) || taken(index)) throw new RangeError(`BAR ${index} is invalid or already defined`);
    if (def.is64 && (def.kind !== 'mem' || index === 5 || taken(index + 1))) throw new RangeError(`BAR ${index}: a 64-bit BAR is a memory BAR with a free BAR ${index + 1}`);
    if (!pow2(def.size) || def.size < (def.kind === 'io' ? 4 : 4096) || def.size > (def.kind === 'io' ? 0x10000 : 0x80000000)) {
      throw new RangeError(`BAR ${index}: size 0x${def.size.toString(16)} must be a power of two, ${def.kind === 'io' ? '4 B – 64 KiB' : '4 KiB – 2 GiB'}`);
    }
    this.bars[index] = def;
    const off = PCI.BAR0 + index * 4;
    const flags = def.kind === 'io' ? 1 : (def.prefetchable ? 8 : 0) | (def.is64 ? 4 : 0);
    this.set32(off, flags);
    const mask = (~(def.size - 1) & (def.kind === 'io' ? ~3 : ~0xf)) >>> 0;
    for (let i = 0; i < 4; i++) this.wmask[off + i] = (mask >>> (i * 8)) & 0xff;
    if (def.is64) {
      this.upperHalf[index + 1] = 1;
      this.wmask.fill(0xff, off + 4, off + 8); // sizes up to 2 GiB: every high address bit is writable
    }
  }

  /** Append a capability of `length` bytes (header included) to the list; returns its offset. */
  addCapability(id: number, length: number): number {
    const off = this.capEnd;
    if (length < 2 || off + length > 0x100) throw new RangeError(`no room for a ${length}-byte capability`);
    this.config[off] = id;
    this.config[off + 1] = 0;
    if (this.lastCap) this.config[this.lastCap + 1] = off;
    else this.config[PCI.CAPABILITY_LIST] = off;
    this.lastCap = off;
    this.capEnd = (off + length + 3) & ~3;
    this.config[PCI.STATUS] |= PCI_STATUS.CAP_LIST;
    return off;
  }

  /**
   * Vendor-specific capability (id 0x09): byte 2 is the capability length, the payload follows
   * at offset + 3. Read-only to the guest; the device may update the bytes itself.
   */
  addVendorCapability(payload: Uint8Array): number {
    const off = this.addCapability(PCI_CAP_ID.VENDOR, 3 + payload.length);
    this.config[off + 2] = 3 + payload.length;
    this.config.set(payload, off + 3);
    return off;
  }

  /** MSI-X with `vectors` entries; table and PBA live in memory BAR `bar` (define the BAR first). */
  addMsix(opts: { vectors: number; bar: number; tableOffset: number; pbaOffset: number }): number {
    const { vectors, bar, tableOffset, pbaOffset } = opts;
    const b = this.bars[bar];
    if (!b || b.kind !== 'mem') throw new RangeError(`MSI-X needs memory BAR ${bar}`);
    if (vectors < 1 || vectors > 2048) throw new RangeError('MSI-X supports 1–2048 vectors');
    const pbaLen = Math.ceil(vectors / 64) * 8;
    if (tableOffset % 8 || pbaOffset % 8 || tableOffset + vectors * MSIX_ENTRY_SIZE > b.size || pbaOffset + pbaLen > b.size
      || (tableOffset < pbaOffset + pbaLen && pbaOffset < tableOffset + vectors * MSIX_ENTRY_SIZE)) {
      throw new RangeError('MSI-X table/PBA placement is invalid');
    }
    const cap = this.addCapability(PCI_CAP_ID.MSIX, 12);
    this.set16(cap + 2, vectors - 1);
    this.wmask[cap + 3] = (MSIX_CONTROL.ENABLE | MSIX_CONTROL.FUNCTION_MASK) >>> 8;
    this.set32(cap + 4, tableOffset | bar);
    this.set32(cap + 8, pbaOffset | bar);
    const table = new Uint32Array(vectors * 4);
    for (let v = 0; v < vectors; v++) table[v * 4 + 3] = 1;
    this.msix = { cap, vectors, bar, tableOffset, pbaOffset, table, pending: new Uint8Array(vectors) };
    return cap;
  }

  // ------------------------------------------------------------ hooks for device models

  /** BAR `index` now decodes at `addr` (-1: not decoded). BAR ioeventfds have already moved. */
  barMapped(_index: number, _addr: number): void {}

  /**
   * An ioeventfd at `offset` in BAR `bar`, registered on the port bus or in memory wherever the
   * BAR decodes, and only while it does. Returns the remover.
   */
  addBarIoEventFd(bar: number, fd: BarIoEventFd): () => void {
    const def = this.bars[bar];
    if (!def) throw new RangeError(`BAR ${bar} is not defined`);
    const len = fd.length ?? 0;
    if (!Number.isInteger(fd.offset) || fd.offset < 0 || fd.offset + Math.max(len, 1) > def.size) throw new RangeError(`ioeventfd offset 0x${fd.offset.toString(16)} is outside BAR ${bar}`);
    const e = { bar, fd, remove: null as (() => void) | null };
    this.barFds.push(e);
    if (this.barBase[bar]! >= 0) e.remove = this.bus!.addIoEventFd(def.kind, this.barBase[bar]! + fd.offset, fd);
    return () => {
      const i = this.barFds.indexOf(e);
      if (i < 0) return;
      this.barFds.splice(i, 1);
      e.remove?.();
    };
  }

  /** @internal PciBus: BAR `index` decodes at `addr` now (-1: nowhere). */
  barMoved(index: number, addr: number): void {
    this.barBase[index] = addr;
    const kind = this.bars[index]!.kind;
    for (const e of this.barFds) {
      if (e.bar !== index) continue;
      e.remove?.();
      e.remove = addr >= 0 ? this.bus!.addIoEventFd(kind, addr + e.fd.offset, e.fd) : null;
    }
    this.barMapped(index, addr);
  }

  /** @internal PciBus.add: the function is complete; remember its power-on configuration. */
  attached(): void { this.powerOn = this.config.slice(); }

  /**
   * Function reset (power-on state): command, BARs, MSI-X (disabled, every vector masked, nothing
   * pending) and INTx (low). Device models extend it to reset their own state.
   */
  pciReset(): void {
    if (this.powerOn) this.config.set(this.powerOn);
    const m = this.msix;
    if (m) {
      m.table.fill(0);
      for (let v = 0; v < m.vectors; v++) m.table[v * 4 + 3] = 1;
      m.pending.fill(0);
    }
    this.intxLevel = false;
    this.updateIntx();
    this.bus?.updateMappings(this);
    if (m) { this.msixDelivery?.update(null); this.msixChanged(null); }
  }

  /** Attach the MSI shim (msix-routing.ts); null detaches. */
  attachMsixDelivery(d: MsixDelivery | null): void {
    if (d && !this.msix) throw new Error('the function has no MSI-X capability');
    if (d && this.msixDelivery) throw new Error('MSI-X delivery already attached');
    this.msixDelivery = d;
    d?.update(null);
  }

  /** MSI-X state changed: `vector` had its address/data/mask written, or null for enable/function mask. */
  msixChanged(_vector: number | null): void {}

  // ------------------------------------------------------------ guest config cycles

  configRead(offset: number, size: AccessSize): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.config[offset + i]! << (i * 8);
    return v >>> 0;
  }

  configWrite(offset: number, size: AccessSize, value: number): void {
    const end = Math.min(offset + size, 0x100);
    const msixCtl = this.msix ? this.get16(this.msix.cap + 2) : 0;
    for (let a = offset; a < end; a++) {
      const b = (value >>> ((a - offset) * 8)) & 0xff;
      const wm = this.wmask[a]!;
      this.config[a] = ((this.config[a]! & ~wm) | (b & wm)) & ~(b & this.w1cmask[a]!);
    }
    const touches = (lo: number, hi: number): boolean => offset < hi && end > lo;
    if (touches(PCI.COMMAND, PCI.COMMAND + 2)) {
      this.updateIntx();
      this.msixDelivery?.update(null); // bus master gates MSI-X messages
    }
    if (touches(PCI.COMMAND, PCI.COMMAND + 2) || touches(PCI.BAR0, PCI.BAR0 + 24)) this.bus?.updateMappings(this);
    if (this.msix && touches(this.msix.cap + 2, this.msix.cap + 4) && this.get16(this.msix.cap + 2) !== msixCtl) this.msixControlWritten();
  }

  /** Current BAR register value (flags included). */
  barRegister(index: number): number { return this.get32(PCI.BAR0 + index * 4); }

  get command(): number { return this.get16(PCI.COMMAND); }

  /** Bus Master Enable: the function may issue memory requests (DMA, MSI-X messages). */
  get busMaster(): boolean { return (this.command & PCI_COMMAND.MASTER) !== 0; }

  // ------------------------------------------------------------ INTx

  /** Drive the function's INTx# line (level). Masked by Interrupt Disable and while MSI-X is on. */
  setIntx(level: boolean): void {
    this.intxLevel = level;
    this.updateIntx();
  }

  private updateIntx(): void {
    if (this.intxLevel) this.config[PCI.STATUS] |= PCI_STATUS.INTERRUPT;
    else this.config[PCI.STATUS] &= ~PCI_STATUS.INTERRUPT;
    const out = this.intxLevel && !(this.command & PCI_COMMAND.INTX_DISABLE) && !this.msixEnabled && this.config[PCI.INTERRUPT_PIN] !== 0;
    if (out !== this.intxOut) {
      this.intxOut = out;
      this.bus?.intxChanged(this, out);
    }
  }

  // ------------------------------------------------------------ MSI-X

  get msixEnabled(): boolean { return this.msix !== null && (this.get16(this.msix.cap + 2) & MSIX_CONTROL.ENABLE) !== 0; }
  get msixFunctionMasked(): boolean { return this.msix !== null && (this.get16(this.msix.cap + 2) & MSIX_CONTROL.FUNCTION_MASK) !== 0; }
  get msixVectors(): number { return this.msix?.vectors ?? 0; }

  msixVector(v: number): MsixVector {
    const t = this.msix!.table;
    return { addressLo: t[v * 4]!, addressHi: t[v * 4 + 1]!, data: t[v * 4 + 2]!, masked: (t[v * 4 + 3]! & 1) !== 0 };
  }

  msixPending(v: number): boolean { return this.msix !== null && this.msix.pending[v] === 1; }

  /**
   * Signal MSI-X vector `v`. Sent now if enabled and unmasked; held in the PBA while masked.
   * Returns false when MSI-X is off (the device should use INTx instead).
   */
  msixNotify(v: number): boolean {
    const m = this.msix;
    if (!m || !this.msixEnabled || v < 0 || v >= m.vectors) return false;
    if (this.msixFunctionMasked || (m.table[v * 4 + 3]! & 1)) m.pending[v] = 1;
    else this.sendVector(v);
    return true;
  }

  /** An MSI-X message is a memory write: without Bus Master Enable it is lost (as in QEMU). */
  private sendVector(v: number): void {
    const t = this.msix!.table;
    this.msix!.pending[v] = 0;
    if (!this.busMaster) return;
    if (this.msixDelivery) this.msixDelivery.send(v);
    else this.bus?.sendMsi(t[v * 4]!, t[v * 4 + 1]!, t[v * 4 + 2]!);
  }

  private msixControlWritten(): void {
    this.updateIntx();
    this.msixDelivery?.update(null);
    this.msixChanged(null);
    this.flushPending();
  }

  /** Deliver vectors that became unmasked while pending (PCI spec 6.8.2.9). */
  private flushPending(): void {
    const m = this.msix!;
    if (!this.msixEnabled || this.msixFunctionMasked) return;
    for (let v = 0; v < m.vectors; v++) if (m.pending[v] && !(m.table[v * 4 + 3]! & 1)) this.sendVector(v);
  }

  /** Called by the bus for accesses to the MSI-X BAR; returns undefined when not the table/PBA. */
  msixBarRead(bar: number, off: number, size: AccessSize): number | undefined {
    const m = this.msix;
    if (!m || bar !== m.bar) return undefined;
    if (off >= m.tableOffset && off < m.tableOffset + m.vectors * MSIX_ENTRY_SIZE) {
      return this.readWords(m.table, off - m.tableOffset, size);
    }
    const pbaLen = Math.ceil(m.vectors / 64) * 8;
    if (off >= m.pbaOffset && off < m.pbaOffset + pbaLen) {
      let v = 0;
      for (let i = 0; i < size; i++) {
        const bit0 = (off - m.pbaOffset + i) * 8;
        let byte = 0;
        for (let b = 0; b < 8; b++) if (bit0 + b < m.vectors && m.pending[bit0 + b]) byte |= 1 << b;
        v |= byte << (i * 8);
      }
      return v >>> 0;
    }
    return undefined;
  }

  /** Returns false when not the table/PBA. PBA writes are ignored (read-only). */
  msixBarWrite(bar: number, off: number, size: AccessSize, value: number): boolean {
    const m = this.msix;
    if (!m || bar !== m.bar) return false;
    if (off >= m.tableOffset && off < m.tableOffset + m.vectors * MSIX_ENTRY_SIZE) {
      const rel = off - m.tableOffset;
      const v = rel >>> 4;
      const before = m.table.slice(v * 4, v * 4 + 4);
      this.writeWords(m.table, rel, size, value);
      m.table[v * 4 + 3]! &= 1; // vector control: only the mask bit is implemented
      const changed = before.some((w, i) => w !== m.table[v * 4 + i]);
      if (changed) {
        this.msixDelivery?.update(v);
        this.msixChanged(v);
        if (m.pending[v] && !(m.table[v * 4 + 3]! & 1) && this.msixEnabled && !this.msixFunctionMasked) this.sendVector(v);
      }
      return true;
    }
    return off >= m.pbaOffset && off < m.pbaOffset + Math.ceil(m.vectors / 64) * 8;
  }

  private readWords(words: Uint32Array, off: number, size: AccessSize): number {
    let v = 0;
    for (let i = 0; i < size; i++) {
      const o = off + i;
      const byte = o >>> 2 < words.length ? (words[o >>> 2]! >>> ((o & 3) * 8)) & 0xff : 0;
      v |= byte << (i * 8);
    }
    return v >>> 0;
  }

  private writeWords(words: Uint32Array, off: number, size: AccessSize, value: number): void {
    for (let i = 0; i < size; i++) {
      const o = off + i;
      if (o >>> 2 >= words.length) break;
      const sh = (o & 3) * 8;
      words[o >>> 2] = ((words[o >>> 2]! & ~(0xff << sh)) | (((value >>> (i * 8)) & 0xff) << sh)) >>> 0;
    }
  }

  // ------------------------------------------------------------ helpers

  protected get16(off: number): number { return this.config[off]! | (this.config[off + 1]! << 8); }
  protected get32(off: number): number { return (this.get16(off) | (this.get16(off + 2) << 16)) >>> 0; }
  protected set16(off: number, v: number): void { this.config[off] = v & 0xff; this.config[off + 1] = (v >>> 8) & 0xff; }
  protected set32(off: number, v: number): void { this.set16(off, v); this.set16(off + 2, v >>> 16); }
}
