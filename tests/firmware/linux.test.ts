// Linux boot protocol loader against Documentation/x86/boot.rst and zero-page.rst (Linux 6.1).
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysicalMemory } from '../../bus/memory.js';
import { detectKernel, loadLinux, parseBzImage } from '../../firmware/index.js';
import { cachedGuest } from '../../scripts/build-guest.mjs';

const MiB = 0x100000;

/** A bzImage with only what boot.rst says a loader reads: the setup header and the payload. */
function synthBzImage(o: { version?: number; setupSects?: number; loadflags?: number; payload?: number; cmdlineSize?: number; initSize?: number; prefAddress?: number } = {}) {
  const setupSects = o.setupSects ?? 4;
  const payload = new Uint8Array(o.payload ?? 0x3000).map((_, i) => (i * 7 + 3) & 0xff);
  const img = new Uint8Array(((setupSects || 4) + 1) * 512 + payload.length);
  const dv = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  dv.setUint32(0x1f4, payload.length / 16, true); // syssize in 16-byte paragraphs
  dv.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb; img[0x201] = 0x6a; // jmp; header ends at 0x202 + 0x6a = 0x26c
  dv.setUint32(0x202, 0x53726448, true); // "HdrS"
  dv.setUint16(0x206, o.version ?? 0x020f, true);
  img[0x211] = o.loadflags ?? 0x01;
  dv.setUint32(0x22c, 0x7fffffff, true); // initrd_addr_max
  dv.setUint32(0x230, 0x1000000, true); // kernel_alignment
  img[0x234] = 0; // not relocatable
  dv.setUint32(0x238, o.cmdlineSize ?? 2047, true);
  dv.setUint32(0x258, o.prefAddress ?? 0x1000000, true);
  dv.setUint32(0x260, o.initSize ?? 0x400000, true);
  dv.setUint16(0x20e, 0x100, true); // kernel_version: string at 0x200 + 0x100
  img.set(new TextEncoder().encode('6.1.0-test (x@y) #1\0'), 0x300);
  img.set(payload, ((setupSects || 4) + 1) * 512);
  return { img, payload, setupSects: setupSects || 4 };
}

/** Byte comparison without uvu's (slow, huge) diff of large arrays. */
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
const u8 = (m: PhysicalMemory, a: number) => m.ram[a]!;
const u16 = (m: PhysicalMemory, a: number) => m.ram[a]! | (m.ram[a + 1]! << 8);
const u32 = (m: PhysicalMemory, a: number) => (u16(m, a) | (u16(m, a + 2) << 16)) >>> 0;
const u64 = (m: PhysicalMemory, a: number) => u32(m, a) + u32(m, a + 4) * 2 ** 32;
const cstr = (m: PhysicalMemory, a: number) => { let s = ''; while (m.ram[a]) s += String.fromCharCode(m.ram[a++]!); return s; };

function e820FromZeroPage(m: PhysicalMemory, zp: number) {
  const n = u8(m, zp + 0x1e8);
  return Array.from({ length: n }, (_, i) => {
    const e = zp + 0x2d0 + i * 20; // struct e820_entry { u64 addr; u64 size; u32 type } packed
    return { addr: u64(m, e), size: u64(m, e + 8), type: u32(m, e + 16) };
  });
}

/** Decode a GDT descriptor (Intel SDM vol. 3 §3.4.5). */
function descriptor(m: PhysicalMemory, gdtBase: number, sel: number) {
  const lo = u32(m, gdtBase + (sel & ~7)), hi = u32(m, gdtBase + (sel & ~7) + 4);
  const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  const rawLimit = (lo & 0xffff) | (hi & 0xf0000);
  const g = (hi >>> 23) & 1;
  return {
    base, limit: g ? rawLimit * 4096 + 4095 : rawLimit, present: (hi >>> 15) & 1, dpl: (hi >>> 13) & 3, s: (hi >>> 12) & 1,
    type: (hi >>> 8) & 0xf, db: (hi >>> 22) & 1,
  };
}

test('synthetic bzImage: kernel at 1 MiB, zero page fields at the boot.rst offsets', () => {
  const { img, payload, setupSects } = synthBzImage();
  const mem = new PhysicalMemory(64 * MiB);
  const initrd = new Uint8Array(10000).fill(0x5a);
  const cmdline = 'console=ttyS0 test=1';
  const st = loadLinux(mem, { kernel: img, initrd, cmdline });

  // Entry: 32-bit boot protocol.
  assert.is(st.eip, 0x100000);
  assert.is(st.cs, 0x10);
  assert.is(st.ds, 0x18);
  assert.is(st.regs.ebp, 0); assert.is(st.regs.edi, 0); assert.is(st.regs.ebx, 0);
  assert.is(st.eflags & 0x200, 0, 'interrupts disabled');
  assert.is(st.cr0 & 1, 1); assert.is(st.cr0 >>> 31, 0);
  const zp = st.regs.esi;

  // Protected-mode code from offset (setup_sects + 1) * 512 of the file, at 1 MiB.
  assert.ok(same(mem.ram.subarray(MiB, MiB + payload.length), payload));
  assert.ok(same(img.subarray((setupSects + 1) * 512), payload));

  // Setup header copied from 0x1f1 to 0x202 + byte at 0x201.
  assert.ok(same(mem.ram.subarray(zp + 0x1f1, zp + 0x202), img.subarray(0x1f1, 0x202)));
  assert.is(u32(mem, zp + 0x202), 0x53726448);
  assert.is(u16(mem, zp + 0x206), 0x020f);
  assert.is(u32(mem, zp + 0x260), 0x400000);
  assert.is(u8(mem, zp + 0x1ef), 0, 'sentinel stays zero');
  assert.is(u8(mem, zp + 0x210), 0xff, 'type_of_loader = undefined');
  assert.is(u8(mem, zp + 0x211) & 1, 1, 'LOADED_HIGH');
  // screen_info: orig_video_isVGA (0x0f) = 0, no rows/columns.
  assert.is(u8(mem, zp + 0x0f), 0);
  assert.is(u8(mem, zp + 0x07), 0); assert.is(u8(mem, zp + 0x0e), 0);

  // Command line.
  const cmdPtr = u32(mem, zp + 0x228);
  assert.is(cstr(mem, cmdPtr), cmdline);

  // initrd: as high as possible, page aligned, below min(initrd_addr_max, RAM top).
  const image = u32(mem, zp + 0x218), size = u32(mem, zp + 0x21c);
  assert.is(size, initrd.length);
  assert.is(image % 4096, 0);
  assert.ok(image + size <= 64 * MiB);
  assert.ok(image + 4096 + size > 64 * MiB, 'no higher page-aligned address fits');
  assert.ok(same(mem.ram.subarray(image, image + size), initrd));

  // e820 table at 0x2d0, count at 0x1e8.
  const map = e820FromZeroPage(mem, zp);
  assert.ok(map.some((e) => e.type === 1 && e.addr === 0x100000 && e.addr + e.size === 64 * MiB), 'RAM from 1 MiB to the top');
  assert.ok(map.some((e) => e.type === 1 && e.addr === 0 && e.size <= 0xa0000));
  assert.ok(map.some((e) => e.type === 2 && e.addr <= 0xfec00000 && e.addr + e.size > 0xfec00000), 'IOAPIC reserved');
  assert.ok(map.some((e) => e.type === 2 && e.addr <= 0xfee00000 && e.addr + e.size > 0xfee00000), 'LAPIC reserved');
  // Every zero-page structure lies in usable RAM the kernel will not overwrite before copying it.
  for (const a of [zp, cmdPtr, st.gdt.base]) assert.ok(map.some((e) => e.type === 1 && a >= e.addr && a < e.addr + e.size) && a < 0x100000);

  // GDT: __BOOT_CS flat execute/read, __BOOT_DS flat read/write, 4 GiB, ring 0, 32-bit.
  assert.ok(st.gdt.limit >= 0x1f);
  const cs = descriptor(mem, st.gdt.base, 0x10), ds = descriptor(mem, st.gdt.base, 0x18);
  for (const d of [cs, ds]) {
    assert.is(d.base, 0); assert.is(d.limit, 0xffffffff); assert.is(d.present, 1); assert.is(d.dpl, 0); assert.is(d.s, 1); assert.is(d.db, 1);
  }
  assert.is(cs.type & 0b1010, 0b1010, 'code, readable');
  assert.is(ds.type & 0b1010, 0b0010, 'data, writable');
});

test('setup_sects 0 means 4; kernel_version string', () => {
  const { img } = synthBzImage({ setupSects: 0 });
  const h = parseBzImage(img);
  assert.is(h.setupSects, 4);
  assert.is(h.kernelOffset, 5 * 512);
  assert.is(h.kernelVersion, '6.1.0-test (x@y) #1');
  assert.is(detectKernel(img), 'bzimage');
});

test('no initrd: ramdisk fields zero; default command line', () => {
  const mem = new PhysicalMemory(32 * MiB);
  const st = loadLinux(mem, { kernel: synthBzImage().img });
  assert.is(u32(mem, st.regs.esi + 0x218), 0);
  assert.is(u32(mem, st.regs.esi + 0x21c), 0);
  assert.match(cstr(mem, u32(mem, st.regs.esi + 0x228)), /console=ttyS0/);
});

test('bad input is refused with one clear message', () => {
  const mem = new PhysicalMemory(32 * MiB);
  const err = (f: () => unknown, re: RegExp) => { try { f(); assert.unreachable(); } catch (e) { assert.instance(e, Error); assert.match((e as Error).message, re); } };
  err(() => loadLinux(mem, { kernel: new Uint8Array(4096) }), /not a Linux bzImage/);
  err(() => loadLinux(mem, { kernel: synthBzImage({ version: 0x0204 }).img }), /2\.04 is too old/);
  err(() => loadLinux(mem, { kernel: synthBzImage({ loadflags: 0 }).img }), /zImage/);
  err(() => loadLinux(mem, { kernel: synthBzImage({ cmdlineSize: 10 }).img, cmdline: 'console=ttyS0' }), /command line is 13 bytes.*at most 10/);
  err(() => loadLinux(mem, { kernel: synthBzImage().img, initrd: new Uint8Array(20 * MiB) }), /initrd .* does not fit/);
  err(() => loadLinux(new PhysicalMemory(16 * MiB), { kernel: synthBzImage().img }), /needs RAM up to 20\.0 MiB/);
  const truncated = synthBzImage().img.subarray(0, 4000);
  err(() => loadLinux(mem, { kernel: truncated }), /truncated/);
});

const guest = cachedGuest();
if (!guest) {
  console.log('  (the default guest is not built: run `node scripts/build-guest.mjs` to test the real bzImage)');
} else {
  test('real bzImage from the guest build', () => {
    const kernel = new Uint8Array(readFileSync(guest.bzImage));
    const initrd = new Uint8Array(readFileSync(guest.initrd));
    const h = parseBzImage(kernel);
    assert.is(kernel[0x1fe] | (kernel[0x1ff]! << 8), 0xaa55);
    assert.ok(h.version >= 0x020f, `protocol ${h.version.toString(16)}`);
    assert.match(h.kernelVersion, /^6\.1\./);
    assert.is(h.cmdlineSize, 2047);
    const mem = new PhysicalMemory(128 * MiB);
    const st = loadLinux(mem, { kernel, initrd });
    const zp = st.regs.esi;
    const image = u32(mem, zp + 0x218);
    assert.is(image % 4096, 0);
    assert.ok(image + initrd.length <= Math.min(h.initrdAddrMax + 1, 128 * MiB));
    // Clear of where the kernel decompresses itself: [runtime start, + init_size).
    assert.ok(image >= Math.max(u32(mem, zp + 0x258), 0x100000) + u32(mem, zp + 0x260));
    assert.ok(same(mem.ram.subarray(image, image + initrd.length), initrd));
    assert.ok(same(mem.ram.subarray(MiB, MiB + 4096), kernel.subarray(h.kernelOffset, h.kernelOffset + 4096)));
  });
}

test.run();
