/** The native runner on its own, against results known from the SDM (so a broken runner is not blamed on ts86). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CF, DF, FLAGS, OF, PF } from './gen.js';
import { CODE_ADDR, DATA_ADDR, VEC_LANDED, runNative, type CaseInput } from './native.js';

const STACK = DATA_ADDR + 0x800;
const at = 0x800;
const c = (code: number[], regs: number[] = [], eflags = 0, pokes: CaseInput['pokes'] = []): CaseInput => ({
  regs: [0, 0, 0, 0, STACK, 0, 0, 0].map((v, i) => regs[i] ?? v), eflags, dataSeed: 42, codeOff: at, code, pokes,
});

test('known results: ALU, faults, memory, control transfer, stack, a clobbered ESP', () => {
  const [add, div0, ud2, store, jmp, pushf, into, bound, rolEsp] = runNative([
    c([0x01, 0xc8], [1, 1]), // add eax, ecx
    c([0xf7, 0xf1], [5, 0]), // div ecx (0)
    c([0x0f, 0x0b]),
    c([0x89, 0x08], [DATA_ADDR + 0x100, 0x11223344]), // mov [eax], ecx
    c([0xeb, 0x10]), // jmp +0x10
    c([0x9c], [], CF | PF | DF), // pushfd
    c([0xce], [], OF), // into
    c([0x62, 0x08], [DATA_ADDR + 0x100, 5], 0, [{ off: 0x100, size: 4, val: 10 }, { off: 0x104, size: 4, val: 20 }]), // bound ecx, [eax]
    c([0xc1, 0xc4, 0x07]), // rol esp, 7
  ]);
  assert.is(add!.vector, VEC_LANDED);
  assert.is(add!.regs[0], 2);
  assert.is(add!.eflags & FLAGS, 0);
  assert.is(add!.eip, CODE_ADDR + at + 3);

  assert.is(div0!.vector, 0);
  assert.is(div0!.eip, CODE_ADDR + at);
  assert.is(ud2!.vector, 6);

  assert.is(store!.vector, VEC_LANDED);
  assert.equal([...store!.diff], [[0x100, 0x44], [0x101, 0x33], [0x102, 0x22], [0x103, 0x11]]);

  assert.is(jmp!.eip, CODE_ADDR + at + 2 + 0x10 + 1);

  assert.is(pushf!.regs[4], STACK - 4);
  const pushed = [0, 1, 2, 3].reduce((v, i) => v | (pushf!.diff.get(0x7fc + i)! << (8 * i)), 0);
  assert.is(pushed, CF | PF | DF | 0x202);

  assert.is(into!.vector, 4);
  assert.is(into!.eip, CODE_ADDR + at + 1);

  assert.is(bound!.vector, 5);

  assert.is(rolEsp!.vector, VEC_LANDED);
  assert.is(rolEsp!.regs[4], ((STACK << 7) | (STACK >>> 25)) >>> 0);
});

test.run();
