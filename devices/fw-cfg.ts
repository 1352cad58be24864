/**
 * QEMU's firmware configuration device (docs/specs/fw_cfg.rst), x86 I/O-port flavour:
 *
 * - 0x510 (and 0x511): a 16-bit write at 0x510 selects an item and resets the data offset; a byte read
 *   at either port returns the next byte of the item (0 past its end or for an absent item).
 *   Byte writes are the pre-2.4 write path that QEMU ignores.
 * - 0x514–0x51B: the DMA address register, big-endian. A 32-bit write at 0x514 sets the high half,
 *   a 32-bit write at 0x518 sets the low half and runs the FWCfgDmaAccess at that guest physical
 *   address; reads return the signature "QEMU CFG".
 *
 * Items: signature, ID (traditional + DMA), UUID, RAM size, CPU counts, the kernel/initrd/
 * command-line/setup items of a direct kernel boot, and named files listed in FW_CFG_FILE_DIR
 * (sorted by name with selectors in the same order, as QEMU does). All items are read-only.
 */
import type { AccessSize, IoBus, PortHandler } from '../bus/io.js';
import type { PhysicalMemory } from '../bus/memory.js';
import { GuestLog } from '../bus/pci/guest-log.js';

export const FW_CFG = {
  SIGNATURE: 0x00, ID: 0x01, UUID: 0x02, RAM_SIZE: 0x03, NOGRAPHIC: 0x04, NB_CPUS: 0x05, MACHINE_ID: 0x06,
  KERNEL_ADDR: 0x07, KERNEL_SIZE: 0x08, KERNEL_CMDLINE: 0x09, INITRD_ADDR: 0x0a, INITRD_SIZE: 0x0b,
  BOOT_DEVICE: 0x0c, NUMA: 0x0d, BOOT_MENU: 0x0e, MAX_CPUS: 0x0f, KERNEL_ENTRY: 0x10, KERNEL_DATA: 0x11,
  INITRD_DATA: 0x12, CMDLINE_ADDR: 0x13, CMDLINE_SIZE: 0x14, CMDLINE_DATA: 0x15, SETUP_ADDR: 0x16,
  SETUP_SIZE: 0x17, SETUP_DATA: 0x18, FILE_DIR: 0x19, FILE_FIRST: 0x20,
  WRITE_CHANNEL: 0x4000, ARCH_LOCAL: 0x8000, INVALID: 0xffff,
} as const;

/** QEMU's default number of file slots; selectors from FILE_FIRST + slots on do not exist. */
const FILE_SLOTS = 0x20;
const MAX_FILE_PATH = 56;
export const FW_CFG_PORT = 0x510;
export const FW_CFG_DMA_PORT = 0x514;
/** FWCfgDmaAccess.control bits. */
export const FW_CFG_DMA = { ERROR: 1, READ: 2, SKIP: 4, SELECT: 8, WRITE: 16 } as const;
const DMA_SIGNATURE = new TextEncoder().encode('QEMU CFG');

export interface FwCfgOptions {
  ramSize: number;
  nbCpus?: number;
  maxCpus?: number;
  uuid?: Uint8Array;
  /** Offer the DMA interface (FW_CFG_ID bit 1, port 0x514). Default true. */
  dma?: boolean;
  kernel?: { addr: number; data: Uint8Array; entry?: number };
  initrd?: { addr: number; data: Uint8Array };
  /** The command line as the guest should see it; CMDLINE_SIZE counts the terminating NUL. */
  cmdline?: { addr: number; text: string };
  setup?: { addr: number; data: Uint8Array };
  /** Published as the "etc/e820" file: packed {u64 address, u64 length, u32 type} entries. */
  e820?: { addr: number; size: number; type: number }[];
  files?: Record<string, Uint8Array>;
  log?: (line: string) => void;
}

const u16 = (v: number): Uint8Array => new Uint8Array([v & 0xff, (v >>> 8) & 0xff]);
function u32(v: number): Uint8Array { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; }
function u64(v: number): Uint8Array { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); return b; }

export class FwCfg {
  /** Items by selector with the write-channel bit cleared. */
  private readonly items = new Map<number, Uint8Array>();
  private readonly files = new Map<string, Uint8Array>();
  private selector = 0;
  private offset = 0;
  private dmaAddr = 0n;
  private readonly dma: boolean;
  private readonly log: GuestLog;

  constructor(io: IoBus, private readonly mem: PhysicalMemory, opts: FwCfgOptions) {
    this.dma = opts.dma ?? true;
    this.log = new GuestLog('fw_cfg', opts.log);
    const enc = new TextEncoder();
    this.setItem(FW_CFG.SIGNATURE, enc.encode('QEMU'));
    this.setItem(FW_CFG.ID, u32(this.dma ? 3 : 1));
    this.setItem(FW_CFG.UUID, opts.uuid ?? new Uint8Array(16));
    this.setItem(FW_CFG.RAM_SIZE, u64(opts.ramSize));
    this.setItem(FW_CFG.NOGRAPHIC, u16(0));
    this.setItem(FW_CFG.BOOT_MENU, u16(0));
    this.setItem(FW_CFG.NB_CPUS, u16(opts.nbCpus ?? 1));
    this.setItem(FW_CFG.MAX_CPUS, u16(opts.maxCpus ?? opts.nbCpus ?? 1));
    if (opts.kernel) {
      this.setItem(FW_CFG.KERNEL_ADDR, u32(opts.kernel.addr));
      this.setItem(FW_CFG.KERNEL_SIZE, u32(opts.kernel.data.length));
      this.setItem(FW_CFG.KERNEL_DATA, opts.kernel.data);
      if (opts.kernel.entry !== undefined) this.setItem(FW_CFG.KERNEL_ENTRY, u32(opts.kernel.entry));
    }
    if (opts.initrd) {
      this.setItem(FW_CFG.INITRD_ADDR, u32(opts.initrd.addr));
      this.setItem(FW_CFG.INITRD_SIZE, u32(opts.initrd.data.length));
      this.setItem(FW_CFG.INITRD_DATA, opts.initrd.data);
    }
    if (opts.cmdline) {
      const text = enc.encode(opts.cmdline.text);
      const data = new Uint8Array(text.length + 1);
      data.set(text);
      this.setItem(FW_CFG.CMDLINE_ADDR, u32(opts.cmdline.addr));
      this.setItem(FW_CFG.CMDLINE_SIZE, u32(data.length));
      this.setItem(FW_CFG.CMDLINE_DATA, data);
    }
    if (opts.setup) {
      this.setItem(FW_CFG.SETUP_ADDR, u32(opts.setup.addr));
      this.setItem(FW_CFG.SETUP_SIZE, u32(opts.setup.data.length));
      this.setItem(FW_CFG.SETUP_DATA, opts.setup.data);
    }
    if (opts.e820) {
      const b = new Uint8Array(opts.e820.length * 20);
      const dv = new DataView(b.buffer);
      opts.e820.forEach((e, i) => {
        dv.setBigUint64(i * 20, BigInt(e.addr), true);
        dv.setBigUint64(i * 20 + 8, BigInt(e.size), true);
        dv.setUint32(i * 20 + 16, e.type, true);
      });
      this.addFile('etc/e820', b);
    }
    for (const [name, data] of Object.entries(opts.files ?? {})) this.addFile(name, data);
    this.rebuildFiles();

    const comb: PortHandler = {
      read: (_port, size) => size === 1 ? this.readByte() : 0,
      write: (port, size, v) => {
        // A word at 0x511 would run past the register pair: QEMU drops it.
        if (size === 2 && port === FW_CFG_PORT) this.select(v);
        else if (size !== 1) this.log.warn(`${size}-byte write to the selector ignored`);
      },
    };
    io.register(FW_CFG_PORT, 2, comb, 'fw_cfg');
    if (this.dma) {
      const dmaPort: PortHandler = { read: (p, s) => this.dmaRead(p - FW_CFG_DMA_PORT, s), write: (p, s, v) => this.dmaWrite(p - FW_CFG_DMA_PORT, s, v) };
      io.register(FW_CFG_DMA_PORT, 8, dmaPort, 'fw_cfg-dma');
    }
  }

  /** Set a fixed item (host side). `key` may carry FW_CFG.ARCH_LOCAL. */
  setItem(key: number, data: Uint8Array): void {
    this.items.set(key & ~FW_CFG.WRITE_CHANNEL & 0xffff, data);
  }

  /** Add or replace a named file; the directory is rebuilt, keeping names sorted. */
  addFile(name: string, data: Uint8Array): void {
    if (name.length >= MAX_FILE_PATH) throw new RangeError(`fw_cfg file name "${name}" is longer than ${MAX_FILE_PATH - 1} characters`);
    if (!this.files.has(name) && this.files.size >= FILE_SLOTS) throw new RangeError('fw_cfg: no free file slot');
    this.files.set(name, data);
    this.rebuildFiles();
  }

  /** Selector of a named file, or undefined. */
  fileSelector(name: string): number | undefined {
    const i = [...this.files.keys()].sort(cmp).indexOf(name);
    return i < 0 ? undefined : FW_CFG.FILE_FIRST + i;
  }

  reset(): void { this.select(0); this.dmaAddr = 0n; }

  private rebuildFiles(): void {
    const names = [...this.files.keys()].sort(cmp);
    for (let k = FW_CFG.FILE_FIRST; k < FW_CFG.FILE_FIRST + FILE_SLOTS; k++) this.items.delete(k);
    const dir = new Uint8Array(4 + 64 * names.length);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, names.length, false);
    names.forEach((name, i) => {
      const data = this.files.get(name)!;
      const key = FW_CFG.FILE_FIRST + i;
      this.items.set(key, data);
      const e = 4 + i * 64;
      dv.setUint32(e, data.length, false);
      dv.setUint16(e + 4, key, false);
      dir.set(new TextEncoder().encode(name), e + 8);
    });
    this.items.set(FW_CFG.FILE_DIR, dir);
  }

  private select(key: number): void {
    this.selector = key & 0xffff;
    this.offset = 0;
  }

  private current(): Uint8Array | undefined {
    const k = this.selector & ~FW_CFG.WRITE_CHANNEL;
    if ((k & 0x3fff) >= FW_CFG.FILE_FIRST + FILE_SLOTS) return undefined;
    return this.items.get(k);
  }

  private readByte(): number {
    const item = this.current();
    if (!item || this.offset >= item.length) return 0;
    return item[this.offset++]!;
  }

  private dmaRead(off: number, size: AccessSize): number {
    // The register reads as the big-endian signature; the CPU sees the bytes in address order.
    let v = 0;
    for (let i = 0; i < size; i++) v |= (off + i < 8 ? DMA_SIGNATURE[off + i]! : 0xff) << (i * 8);
    return v >>> 0;
  }

  private dmaWrite(off: number, size: AccessSize, v: number): void {
    if (size !== 4 || (off !== 0 && off !== 4)) { this.log.warn(`${size}-byte DMA register write at +${off} ignored`); return; }
    const be = ((v & 0xff) << 24 | (v & 0xff00) << 8 | (v >>> 8) & 0xff00 | v >>> 24) >>> 0;
    if (off === 0) { this.dmaAddr = BigInt(be) << 32n; return; }
    const addr = this.dmaAddr | BigInt(be);
    this.dmaAddr = 0n;
    this.transfer(addr);
  }

  /** Run one FWCfgDmaAccess; the result (0 or the error bit) is written back to its control field. */
  private transfer(descAddr: bigint): void {
    if (descAddr > 0xffffffffn || !this.mem.isRam(Number(descAddr), 16)) {
      this.log.warn(`DMA descriptor at 0x${descAddr.toString(16)} is not in RAM`);
      if (descAddr <= 0xfffffffcn && this.mem.isRam(Number(descAddr), 4)) this.putControl(Number(descAddr), FW_CFG_DMA.ERROR);
      return;
    }
    const desc = Number(descAddr);
    const d = new DataView(this.mem.readBytes(desc, 16).slice().buffer);
    let control = d.getUint32(0, false);
    let length = d.getUint32(4, false);
    let address = d.getBigUint64(8, false);
    if (control & FW_CFG_DMA.SELECT) this.select(control >>> 16);
    const read = (control & FW_CFG_DMA.READ) !== 0;
    const write = !read && (control & FW_CFG_DMA.WRITE) !== 0;
    if (!read && !write && !(control & FW_CFG_DMA.SKIP)) length = 0;
    control = 0;
    const item = this.current();
    while (length > 0 && !(control & FW_CFG_DMA.ERROR)) {
      let len: number;
      if (!item || this.offset >= item.length) {
        // Past the end: reads are zero-filled, skips succeed, writes fail.
        len = length;
        if (read && !this.zeroRam(address, len)) control |= FW_CFG_DMA.ERROR;
        if (write) control |= FW_CFG_DMA.ERROR;
      } else {
        len = Math.min(length, item.length - this.offset);
        if (read && !this.toRam(address, item.subarray(this.offset, this.offset + len))) control |= FW_CFG_DMA.ERROR;
        // Every item is read-only.
        if (write) control |= FW_CFG_DMA.ERROR;
        this.offset += len;
      }
      address += BigInt(len);
      length -= len;
    }
    if (control & FW_CFG_DMA.ERROR) this.log.warn(`DMA transfer (descriptor 0x${desc.toString(16)}) failed`);
    this.putControl(desc, control);
  }

  private toRam(addr: bigint, data: Uint8Array): boolean {
    if (addr + BigInt(data.length) > 0x100000000n || !this.mem.isRam(Number(addr), data.length)) return false;
    this.mem.writeBytes(Number(addr), data);
    return true;
  }

  private zeroRam(addr: bigint, length: number): boolean {
    if (addr + BigInt(length) > 0x100000000n || !this.mem.isRam(Number(addr), length)) return false;
    this.mem.invalidateCode(Number(addr), length);
    this.mem.ram.fill(0, Number(addr), Number(addr) + length);
    return true;
  }

  private putControl(desc: number, control: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, control, false);
    this.mem.writeBytes(desc, b);
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
