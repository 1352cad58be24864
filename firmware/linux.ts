/**
 * Linux x86 boot protocol, 32-bit entry (Documentation/x86/boot.rst): no real-mode setup code
 * runs; ts86 fills the zero page (struct boot_params) itself and enters the protected-mode kernel.
 */
import type { PhysicalMemory } from '../bus/memory.js';
import {
  BOOT_CMDLINE_ADDR, BOOT_GDT_ADDR, BOOT_INFO_ADDR, type BootState, flatBootState, writeBootGdt,
} from './boot-state.js';
import { e820Map, HIGH_MEMORY } from './e820.js';

/** Kernel command line for the default guest: everything on the serial port. */
export const DEFAULT_APPEND = 'console=ttyS0';

/**
 * Oldest protocol accepted: 2.10 (Linux 2.6.31) is the first with pref_address and init_size,
 * which say where the kernel decompresses itself and so where the initrd must not go.
 */
export const MIN_PROTOCOL = 0x020a;

export const KERNEL_LOAD_ADDR = HIGH_MEMORY;
const PAGE = 4096;

export interface SetupHeader {
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  version: number;
  setupSects: number;
  /** Size of the protected-mode code in bytes (syssize * 16). */
  sysSize: number;
  loadFlags: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  cmdlineSize: number;
  prefAddress: number;
  initSize: number;
  /** The kernel_version string, e.g. "6.1.0 (ts86@ts86) #1 ..." ('' if absent). */
  kernelVersion: string;
  /** Offset in the image of the protected-mode kernel. */
  kernelOffset: number;
  /** End of the setup header in the image: 0x202 + the byte at 0x201. */
  headerEnd: number;
}

export const LOADED_HIGH = 0x01;

/** Zero page offsets (Documentation/x86/zero-page.rst and boot.rst). */
export const ZP = {
  altMemK: 0x1e0,
  e820Entries: 0x1e8,
  setupHeader: 0x1f1,
  typeOfLoader: 0x210,
  loadFlags: 0x211,
  ramdiskImage: 0x218,
  ramdiskSize: 0x21c,
  cmdLinePtr: 0x228,
  e820Table: 0x2d0,
} as const;
const E820_MAX_ZEROPAGE = 128;

/** Parse and validate the setup header of a bzImage. */
export function parseBzImage(image: Uint8Array): SetupHeader {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 0x270 || dv.getUint32(0x202, true) !== 0x53726448) {
    throw new Error('not a Linux bzImage: no "HdrS" boot protocol signature at offset 0x202');
  }
  const version = dv.getUint16(0x206, true);
  const ver = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
  if (version < MIN_PROTOCOL) throw new Error(`Linux boot protocol ${ver} is too old: ts86 needs 2.10 or newer (Linux 2.6.31+)`);
  const loadFlags = image[0x211]!;
  if (!(loadFlags & LOADED_HIGH)) throw new Error('not a bzImage: the kernel is a zImage (not loaded high), which ts86 cannot boot');
  const setupSects = image[0x1f1] || 4;
  const kernelOffset = (setupSects + 1) * 512;
  const sysSize = dv.getUint32(0x1f4, true) * 16;
  if (kernelOffset + sysSize > image.length) {
    throw new Error(`truncated bzImage: header says ${kernelOffset + sysSize} bytes, file has ${image.length}`);
  }
  const versionPtr = dv.getUint16(0x20e, true);
  let kernelVersion = '';
  if (versionPtr) {
    for (let i = versionPtr + 0x200; i < image.length && image[i] !== 0 && kernelVersion.length < 256; i++) kernelVersion += String.fromCharCode(image[i]!);
  }
  return {
    version,
    setupSects,
    sysSize,
    loadFlags,
    initrdAddrMax: dv.getUint32(0x22c, true),
    kernelAlignment: dv.getUint32(0x230, true),
    relocatable: image[0x234] !== 0,
    cmdlineSize: dv.getUint32(0x238, true),
    prefAddress: dv.getUint32(0x258, true), // high half is 0 for any kernel an i386 can run
    initSize: dv.getUint32(0x260, true),
    kernelVersion,
    kernelOffset,
    headerEnd: 0x202 + image[0x201]!,
  };
}

export interface LinuxBootOptions {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline?: string;
}

/** Where loadLinux put things (also readable from the zero page). */
export interface LinuxLayout {
  header: SetupHeader;
  zeroPage: number;
  cmdline: number;
  kernel: { addr: number; size: number };
  /** Where the kernel decompresses itself and runs: [start, start + init_size). */
  runtime: { addr: number; size: number };
  initrd?: { addr: number; size: number };
}

/**
 * Load a bzImage (and optional initrd) into RAM and return the CPU entry state.
 * Throws an Error with a user-facing message when the image or the options cannot work.
 */
export function loadLinux(mem: PhysicalMemory, opts: LinuxBootOptions): BootState & { layout: LinuxLayout } {
  const hdr = parseBzImage(opts.kernel);
  const ramTop = mem.ramSize;
  const mib = (n: number) => `${(n / 0x100000).toFixed(1)} MiB`;

  const cmdline = opts.cmdline ?? DEFAULT_APPEND;
  const cmdBytes = new TextEncoder().encode(cmdline);
  if (cmdBytes.length > hdr.cmdlineSize) throw new Error(`kernel command line is ${cmdBytes.length} bytes; this kernel accepts at most ${hdr.cmdlineSize}`);

  const kernel = opts.kernel.subarray(hdr.kernelOffset);
  // The decompressor moves itself to where it will run: aligned up, but never below pref_address.
  const aligned = hdr.relocatable && hdr.kernelAlignment ? Math.ceil(KERNEL_LOAD_ADDR / hdr.kernelAlignment) * hdr.kernelAlignment : 0;
  const runtimeAddr = Math.max(aligned, hdr.prefAddress);
  const kernelEnd = Math.max(KERNEL_LOAD_ADDR + kernel.length, runtimeAddr + hdr.initSize);
  if (kernelEnd > ramTop) throw new Error(`kernel needs RAM up to ${mib(kernelEnd)} to boot, the machine has ${mib(ramTop)}`);

  let initrd: LinuxLayout['initrd'];
  if (opts.initrd) {
    const size = opts.initrd.length;
    // initrd_addr_max is the highest byte the initrd may occupy.
    const limit = Math.min(hdr.initrdAddrMax + 1, ramTop);
    const addr = Math.floor((limit - size) / PAGE) * PAGE;
    const floor = Math.ceil(kernelEnd / PAGE) * PAGE;
    if (addr < floor) throw new Error(`initrd of ${mib(size)} does not fit in RAM above the kernel (${mib(limit - floor)} free below ${mib(limit)})`);
    mem.writeBytes(addr, opts.initrd);
    initrd = { addr, size };
  }
  mem.writeBytes(KERNEL_LOAD_ADDR, kernel);

  const cmdZ = new Uint8Array(cmdBytes.length + 1);
  cmdZ.set(cmdBytes);
  mem.writeBytes(BOOT_CMDLINE_ADDR, cmdZ);

  const zp = new Uint8Array(PAGE);
  const dv = new DataView(zp.buffer);
  // screen_info stays zero: orig_video_isVGA = 0 and no text rows/columns, so neither the
  // decompressor nor the kernel touches a video adapter this machine does not have.
  zp.set(opts.kernel.subarray(ZP.setupHeader, hdr.headerEnd), ZP.setupHeader);
  zp[ZP.typeOfLoader] = 0xff; // undefined boot loader
  // loadflags stay as the image has them: heap_end_ptr/CAN_USE_HEAP only concern the real-mode
  // setup code, which does not run on the 32-bit entry.
  dv.setUint32(ZP.ramdiskImage, initrd?.addr ?? 0, true);
  dv.setUint32(ZP.ramdiskSize, initrd?.size ?? 0, true);
  dv.setUint32(ZP.cmdLinePtr, BOOT_CMDLINE_ADDR, true);
  dv.setUint32(ZP.altMemK, (ramTop - HIGH_MEMORY) / 1024, true);
  const map = e820Map(ramTop);
  if (map.length > E820_MAX_ZEROPAGE) throw new Error('e820 map too long for the zero page');
  zp[ZP.e820Entries] = map.length;
  map.forEach((e, i) => {
    const off = ZP.e820Table + i * 20;
    dv.setBigUint64(off, BigInt(e.addr), true);
    dv.setBigUint64(off + 8, BigInt(e.size), true);
    dv.setUint32(off + 16, e.type, true);
  });
  mem.writeBytes(BOOT_INFO_ADDR, zp);

  const gdt = writeBootGdt(mem, BOOT_GDT_ADDR);
  const state = flatBootState(KERNEL_LOAD_ADDR, gdt, { esi: BOOT_INFO_ADDR });
  return {
    ...state,
    layout: {
      header: hdr,
      zeroPage: BOOT_INFO_ADDR,
      cmdline: BOOT_CMDLINE_ADDR,
      kernel: { addr: KERNEL_LOAD_ADDR, size: kernel.length },
      runtime: { addr: runtimeAddr, size: hdr.initSize },
      initrd,
    },
  };
}
