// Block links, regions and the TLB across address-space switches. (1) Two page directories map
// the same linear page to different physical code, and a loop switches CR3 between them and calls
// into that page. A link or region that followed the code seen before the switch would return the
// other space's value. (2) The CPU keeps the pages each address space had in its TLB and refills
// them when CR3 switches back to it, from the page tables as they are then and only where a walk
// would write nothing. The truth is the x86 semantics: each call returns what the current mapping
// holds; after a MOV to CR3 an access sees the page tables as they stand (an entry changed while
// its space was switched out), the first access through an entry without the accessed bit sets it,
// and the first write through one without the dirty bit sets that. With the interpreter alone and
// with the code generator at once (and once warm, for the loop).
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

/** Runs `code` at LOOP with paging on through PD1 (4 MiB pages allowed) until its HLT. */
function runPaged(cpu: CPU, mem: PhysicalMemory, code: number[] | Uint8Array, budget: number): void {
  code.forEach((x, i) => mem.write(LOOP + i, 1, x));
  cpu.setCr(4, CR4_PSE);
  cpu.setCr(3, PD1);
  cpu.setCr(0, cpu.cr[0]! | CR0_PG);
  cpu.regs[Reg.ESP] = 0x9000;
  cpu.eip = LOOP;
  cpu.run(budget);
  assert.ok(cpu.halted, 'the program did not reach its HLT');
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
    runPaged(cpu, mem, loopCode(rounds), 10_000_000);
    assert.is(cpu.regs[Reg.EBX]! >>> 0, rounds * 1001);
  });
}

/** The TLB test: a page table for linear 0x400000 in space 1, mapped in turn to these pages. */
const PT1 = 0x12000, LIN = 0x400000, A = 0x500000, B = 0x501000, C = 0x502000, D = 0x503000;
const P_RW_US = 0x07, ACCESSED = 0x20, DIRTY = 0x40;

/** Reads and writes the page through space 1 between switches to space 2, which rewrites its entry. */
function tlbProgram(): number[] {
  const b: number[] = [];
  const u32 = (v: number) => b.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  const cr3 = (pd: number) => { b.push(0xbb); u32(pd); b.push(0x0f, 0x22, 0xdb); }; // mov ebx, pd; mov cr3, ebx
  const setPte = (v: number) => { b.push(0xc7, 0x05); u32(PT1); u32(v); }; // mov dword [PT1], v
  b.push(0xa1); u32(LIN); // mov eax, [LIN]: page A, through a walk that sets its accessed bit
  cr3(PD2); setPte(B | P_RW_US | ACCESSED); cr3(PD1);
  b.push(0x8b, 0x0d); u32(LIN); // mov ecx, [LIN]: page B, not A
  cr3(PD2); setPte(C | P_RW_US); cr3(PD1);
  b.push(0x8b, 0x15); u32(LIN); // mov edx, [LIN]: page C, and its accessed bit set
  b.push(0x8b, 0x35); u32(PT1); // mov esi, [PT1]
  cr3(PD2); setPte(D | P_RW_US | ACCESSED); cr3(PD1);
  b.push(0xc7, 0x05); u32(LIN); u32(0x55); // mov dword [LIN], 0x55: page D, and its dirty bit set
  b.push(0xf4); // hlt
  return b;
}

for (const { name, threshold } of MODES.slice(0, 2)) {
  test(`${name}: after CR3 switches back, accesses follow the page tables as they are, with accessed and dirty bits`, () => {
    const mem = new PhysicalMemory(16 << 20);
    const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold: threshold });
    cpu.loadFlat32();
    // Both spaces map the first 4 MiB (code, stack, tables) as one page; space 1 also maps LIN
    // through PT1, first to A, without its accessed bit.
    mem.write(PD1, 4, 0 | PS_P_RW);
    mem.write(PD1 + 4, 4, PT1 | P_RW_US);
    mem.write(PD2, 4, 0 | PS_P_RW);
    mem.write(PT1, 4, A | P_RW_US);
    for (const [phys, v] of [[A, 1], [B, 2], [C, 3], [D, 4]] as const) mem.write(phys, 4, v);
    runPaged(cpu, mem, tlbProgram(), 1000);
    assert.equal([cpu.regs[Reg.EAX], cpu.regs[Reg.ECX], cpu.regs[Reg.EDX]], [1, 2, 3], 'values read through A, B, C');
    assert.is(cpu.regs[Reg.ESI]! & ACCESSED, ACCESSED, 'the read through C set its accessed bit');
    assert.is(mem.read(D, 4), 0x55, 'the write went to D');
    assert.is(mem.read(PT1, 4) & DIRTY, DIRTY, 'the write through D set its dirty bit');
  });
}

/**
 * One physical code page at a different linear address in each of two address spaces, as Linux
 * maps its vDSO at a random address in every process; calls alternate between the spaces in phases
 * of 100. Blocks are found by physical address, so the code compiled in one space is the same block
 * in the other, where a region compiled for the first address must not run as if it were there.
 * The truth: every call adds one, whatever ran it.
 */
for (const { name, threshold, backEnd } of [...MODES.map((m) => ({ ...m, backEnd: undefined })), { name: 'codegen warm, JS back end', threshold: 3, backEnd: 'js' as const }]) {
  test(`${name}: code at another linear address in each address space, switched every 100 calls`, () => {
    const ALIAS_A = 0x400000, ALIAS_B = 0x800000, PAGE = 0xc00000, PHASES = 100, CALLS = 100;
    const mem = new PhysicalMemory(16 << 20);
    const cpu = new CPU({ mem, io: new IoBus(), clock: new Clock('virtual'), compileThreshold: threshold, backEnd });
    cpu.loadFlat32();
    for (const [pd, lin] of [[PD1, ALIAS_A], [PD2, ALIAS_B]] as const) {
      mem.write(pd, 4, 0 | PS_P_RW);
      mem.write(pd + 4 * (lin >>> 22), 4, PAGE | PS_P_RW);
    }
    // add eax, 1; jmp +0 (a direct jump: its target is a linear address); inc edx; ret
    [0x83, 0xc0, 0x01, 0xeb, 0x00, 0x42, 0xc3].forEach((x, i) => mem.write(PAGE + i, 1, x));
    const b: number[] = [];
    const u32 = (v: number) => b.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
    b.push(0x31, 0xc0, 0x31, 0xd2); // xor eax, eax; xor edx, edx
    b.push(0xbe); u32(PHASES); // mov esi, PHASES
    const outer = b.length;
    b.push(0xb9); u32(CALLS); // outer: mov ecx, CALLS
    b.push(0xbf); u32(ALIAS_A); // mov edi, ALIAS_A
    b.push(0xbb); u32(PD1); // mov ebx, PD1
    b.push(0xf7, 0xc6); u32(1); // test esi, 1
    b.push(0x75, 0x0a); // jnz switch
    b.push(0xbf); u32(ALIAS_B); // mov edi, ALIAS_B
    b.push(0xbb); u32(PD2); // mov ebx, PD2
    b.push(0x0f, 0x22, 0xdb); // switch: mov cr3, ebx
    const inner = b.length;
    b.push(0xff, 0xd7); // inner: call edi
    b.push(0x49); // dec ecx
    b.push(0x75, (inner - (b.length + 2)) & 0xff); // jnz inner
    b.push(0x4e); // dec esi
    b.push(0x75, (outer - (b.length + 2)) & 0xff); // jnz outer
    b.push(0xf4); // hlt
    runPaged(cpu, mem, b, 10_000_000);
    assert.is(cpu.regs[Reg.EAX], PHASES * CALLS);
    assert.is(cpu.regs[Reg.EDX], PHASES * CALLS);
  });
}

test.run();
