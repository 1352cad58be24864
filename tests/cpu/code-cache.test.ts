// The decoded-block cache (cpu/code-cache.ts) through what the guest sees: code packed with
// hundreds of blocks per page (in RAM, in the last RAM page, in a ROM right above RAM and in a ROM
// at the top of 4 GiB), a block straddling two pages changed through its second page, and code
// writes that must drop exactly the stale blocks. The truth is the x86 semantics written out in
// the test (sums of immediates, the bytes as they are in memory after a store: x86 keeps
// self-modifying code coherent), with the interpreter alone and with the code generator at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg } from '../../cpu/index.js';

const RAM = 1 << 20;
const MODES = [{ name: 'interpreter', threshold: Infinity }, { name: 'codegen', threshold: 0 }, { name: 'codegen warm', threshold: 3 }];

function machine(compileThreshold: number): { mem: PhysicalMemory; cpu: CPU } {
  const mem = new PhysicalMemory(RAM);
  const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold });
  cpu.loadFlat32();
  return { mem, cpu };
}

/** Runs from `eip` to a HLT; returns EAX. */
function call(cpu: CPU, eip: number): number {
  cpu.eip = eip | 0;
  cpu.halted = false;
  cpu.run(10_000_000);
  assert.ok(cpu.halted, `no HLT reached from ${eip.toString(16)}`);
  return cpu.regs[Reg.EAX]! >>> 0;
}

/**
 * A page of `count` blocks, each `add eax, imm8; jmp short next` (5 bytes), run `loops` times by
 * `dec ecx; jnz` and ended by HLT: EAX = loops * sum of the immediates.
 */
function blocksPage(count: number, seed: number): { code: number[]; imms: number[] } {
  const code = [0x31, 0xc0, 0xb9, 0, 0, 0, 0]; // xor eax, eax; mov ecx, loops (patched)
  const imms: number[] = [];
  for (let i = 0; i < count; i++) {
    const imm = (i * 37 + seed) % 100;
    imms.push(imm);
    code.push(0x83, 0xc0, imm, 0xeb, 0x00);
  }
  code.push(0x49, 0x0f, 0x85, 0, 0, 0, 0, 0xf4); // dec ecx; jnz rel32 (patched); hlt
  const rel = 7 - (code.length - 1);
  code.splice(code.length - 5, 4, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >>> 24) & 0xff);
  return { code, imms };
}

function withLoops(code: number[], loops: number): Uint8Array {
  const c = Uint8Array.from(code);
  new DataView(c.buffer).setUint32(3, loops, true);
  return c;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

for (const { name, threshold } of MODES) {
  test(`${name}: pages of ~800 blocks in RAM, in the last RAM page, in ROM above RAM and at the top of 4 GiB`, () => {
    const { mem, cpu } = machine(threshold);
    const { code, imms } = blocksPage(810, 5);
    assert.ok(code.length <= 4096);
    const loops = 20, want = (loops * sum(imms)) >>> 0;
    const image = withLoops(code, loops);
    mem.ram.set(image, 0x3000);
    mem.ram.set(image, RAM - 4096);
    mem.mapRom(RAM, image, 'rom above ram');
    mem.mapRom(0xfffff000, image, 'rom at 4 GiB');
    for (let round = 0; round < 3; round++) {
      for (const at of [0x3000, RAM - 4096, RAM, 0xfffff000]) assert.is(call(cpu, at), want, `code at ${at.toString(16)}, round ${round}`);
    }
  });

  test(`${name}: a store into a code page drops its blocks (and only those) and the new bytes run`, () => {
    const { mem, cpu } = machine(threshold);
    const a = blocksPage(810, 1), b = blocksPage(700, 2);
    const loops = 10;
    mem.ram.set(withLoops(a.code, loops), 0x5000);
    mem.ram.set(withLoops(b.code, loops), 0x6000);
    // At 0x2000: mov byte [edx], bl; hlt (the guest's own store, through the TLB).
    mem.ram.set([0x88, 0x1a, 0xf4], 0x2000);
    for (let round = 0; round < 5; round++) {
      assert.is(call(cpu, 0x5000), (loops * sum(a.imms)) >>> 0, `page A, round ${round}`);
      assert.is(call(cpu, 0x6000), (loops * sum(b.imms)) >>> 0, `page B, round ${round}`);
      // Change one immediate of page A (block 100 + 37 * round) from the guest.
      const k = 100 + 37 * round, imm = 100 + round;
      cpu.regs[Reg.EDX] = 0x5000 + 7 + 5 * k + 2;
      cpu.regs[Reg.EBX] = imm;
      call(cpu, 0x2000);
      a.imms[k] = imm;
    }
    // And from the host side (a DMA-like write through PhysicalMemory).
    mem.write(0x6000 + 7 + 5 * 3 + 2, 1, 99);
    b.imms[3] = 99;
    assert.is(call(cpu, 0x6000), (loops * sum(b.imms)) >>> 0);
    assert.is(call(cpu, 0x5000), (loops * sum(a.imms)) >>> 0);
  });

  test(`${name}: a block straddling two pages sees a store to its second page`, () => {
    const { mem, cpu } = machine(threshold);
    // 0x7ffc: mov eax, imm32 (its last immediate byte at 0x8000); hlt at 0x8001.
    mem.ram.set([0xb8, 0x44, 0x33, 0x22, 0x11, 0xf4], 0x7ffc);
    // 0x8010: a block of the second page itself: mov eax, 7; hlt.
    mem.ram.set([0xb8, 7, 0, 0, 0, 0xf4], 0x8010);
    mem.ram.set([0x88, 0x1a, 0xf4], 0x2000); // mov byte [edx], bl; hlt
    for (let v = 0; v < 4; v++) {
      for (let i = 0; i < 5; i++) {
        assert.is(call(cpu, 0x7ffc), (((0x11 + v) << 24) | 0x223344) >>> 0, `value ${v}, run ${i}`);
        assert.is(call(cpu, 0x8010), 7);
      }
      cpu.regs[Reg.EDX] = 0x8000;
      cpu.regs[Reg.EBX] = 0x12 + v;
      call(cpu, 0x2000);
    }
  });
}

test('FXSAVE over decoded code drops it, as any store does', () => {
  const { mem, cpu } = machine(Infinity);
  // 0x3010: mov eax, 0x11111111; hlt. Decoded by running it, then covered by FXSAVE's area at 0x3000.
  mem.writeBytes(0x3010, Uint8Array.from([0xb8, 0x11, 0x11, 0x11, 0x11, 0xf4]));
  assert.is(call(cpu, 0x3010), 0x11111111);
  const block = cpu.blockAt((0x3010 >>> 12) * 4 + 3, 0x010)!;
  assert.ok(block !== undefined && block.valid, 'the block is decoded');
  mem.writeBytes(0x1000, Uint8Array.from([0x0f, 0xae, 0x05, 0x00, 0x30, 0x00, 0x00, 0xf4])); // fxsave [0x3000]; hlt
  call(cpu, 0x1000);
  assert.not.equal([...mem.ram.subarray(0x3010, 0x3016)], [0xb8, 0x11, 0x11, 0x11, 0x11, 0xf4], 'FXSAVE wrote over the code');
  assert.not.ok(block.valid, 'the stale block was dropped');
  assert.is(cpu.blockAt((0x3010 >>> 12) * 4 + 3, 0x010), undefined);
});

test.run();
