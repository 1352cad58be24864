// Block links and regions across address-space switches: two page directories map the same linear
// page to different physical code, and a loop switches CR3 between them and calls into that page.
// A link or region that followed the code seen before the switch would return the other space's
// value. The truth is the x86 semantics (each call returns what the current mapping holds), with
// the interpreter alone and with the code generator at once and once warm.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { CPU, Reg, CR0_PG, CR4_PSE } from '../../cpu/index.js';

const MODES = [{ name: 'interpreter', threshold: Infinity }, { name: 'codegen', threshold: 0 }, { name: 'codegen warm', threshold: 3 }];
const PD1 = 0x10000, PD2 = 0x11000;
/** Linear 0x400000 is the 4 MiB page at these physical addresses in the two spaces. */
const SPACE1 = 0x800000, SPACE2 = 0xc00000;
const LOOP = 0x1000, CALLEE = 0x400000;
const PS_P_RW = 0x83;

/**
 * The loop: per round, CR3 := PD1, call the helper, add; CR3 := PD2, call it, add; `rounds` times.
 * The helper (read the page, `call CALLEE`, `ret`) ends in one block run in both spaces, so its
 * link to CALLEE is what is tested.
 */
function loopCode(rounds: number): Uint8Array {
  const b: number[] = [];
  const u32 = (v: number) => b.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  const rel32 = (target: number) => u32((target - (LOOP + b.length + 4)) >>> 0);
  b.push(0x31, 0xdb); // xor ebx, ebx
  b.push(0xb9); u32(rounds); // mov ecx, rounds
  const top = b.length;
  const helperCalls: number[] = [];
  for (const pd of [PD1, PD2]) {
    b.push(0xb8); u32(pd); // mov eax, pd
    b.push(0x0f, 0x22, 0xd8); // mov cr3, eax
    b.push(0xe8); helperCalls.push(b.length); u32(0); // call helper (patched)
    b.push(0x01, 0xc3); // add ebx, eax
  }
  b.push(0x49); // dec ecx
  b.push(0x0f, 0x85); rel32(LOOP + top); // jnz top
  b.push(0xf4); // hlt
  const helper = LOOP + b.length;
  b.push(0x8b, 0x15); u32(CALLEE); // helper: mov edx, [CALLEE] (refills the TLB entry: a link
  // then sees a valid entry and must notice that it maps another physical page)
  b.push(0xe8); rel32(CALLEE); // call CALLEE
  b.push(0xc3); // ret
  const out = Uint8Array.from(b);
  for (const at of helperCalls) new DataView(out.buffer).setUint32(at, (helper - (LOOP + at + 4)) >>> 0, true);
  return out;
}

for (const { name, threshold } of MODES) {
  test(`${name}: the same linear code page in two address spaces, switched by CR3 every call`, () => {
    const mem = new PhysicalMemory(16 << 20);
    const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold: threshold });
    cpu.loadFlat32();
    // Both spaces: identity for the first 4 MiB (the loop, the stack, the page directories), and
    // linear 0x400000 to their own physical page, not global.
    for (const [pd, phys] of [[PD1, SPACE1], [PD2, SPACE2]] as const) {
      mem.write(pd, 4, 0 | PS_P_RW);
      mem.write(pd + 4, 4, phys | PS_P_RW);
    }
    // Each space's code: mov eax, imm32; ret.
    for (const [phys, value] of [[SPACE1, 1], [SPACE2, 1000]] as const) {
      const code = [0xb8, value & 0xff, (value >> 8) & 0xff, 0, 0, 0xc3];
      code.forEach((x, i) => mem.write(phys + i, 1, x));
    }
    const rounds = 500;
    loopCode(rounds).forEach((x, i) => mem.write(LOOP + i, 1, x));
    cpu.setCr(4, CR4_PSE);
    cpu.setCr(3, PD1);
    cpu.setCr(0, cpu.cr[0]! | CR0_PG);
    cpu.regs[Reg.ESP] = 0x9000;
    cpu.eip = LOOP;
    cpu.run(10_000_000);
    assert.ok(cpu.halted, 'the loop did not reach its HLT');
    assert.is(cpu.regs[Reg.EBX]! >>> 0, rounds * 1001);
  });
}

test.run();
