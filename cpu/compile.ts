/**
 * Hot-block compiler. A block that has run often enough is turned into one JS function that calls
 * each instruction's handler directly. Every call site then sees a single handler, so the engine
 * can inline the handlers instead of dispatching through one megamorphic `ins.fn(...)` site.
 * Without `new Function` (e.g. a page with a strict CSP) blocks stay interpreted.
 */
import type { CPU } from './cpu.js';
import type { Block, Insn } from './decode.js';
import { eaBase, eaBaseIndex, eaDisp, eaIndex } from './decode.js';
import * as O from './ops.js';
import { Lazy } from './flags.js';

/** Runs the block; returns how many instructions completed. Sets `cpu.faultIndex` before each one. */
export type CompiledBlock = (c: CPU) => number;

/** Executions after which a block is compiled: a fresh function starts in the engine's bytecode tier, so only blocks that will run many more times repay it. */
export const HOT_BLOCK = 5000;

let available = true;

/**
 * Source for a 32-bit register ALU operation `dst op= src` (flags through the CPU's own lazy-flag
 * setters), or null when the handler is called instead (ADC/SBB need the carry).
 */
function aluSource(op: number, dst: string, src: string): string | null {
  const bin = (expr: string, flags: string) => `{ const a = ${dst}, b = ${src}, r = ${expr}; ${op === 7 ? '' : `${dst} = r; `}${flags} }`;
  switch (op) {
    case 0: return bin('(a + b) | 0', `c.setLazy(${Lazy.Add}, a, b, r, 31);`);
    case 5: case 7: return bin('(a - b) | 0', `c.setLazy(${Lazy.Sub}, a, b, r, 31);`);
    case 1: return bin('a | b', 'c.setLogic(r, 31);');
    case 4: return bin('a & b', 'c.setLogic(r, 31);');
    case 6: return bin('a ^ b', 'c.setLogic(r, 31);');
    default: return null;
  }
}

/** Source computing a 32-bit effective address, or null for forms left to the handler. */
function eaSource(ins: Insn): string | null {
  const d = ins.disp | 0;
  if (ins.ea === eaDisp) return `${d}`;
  if (ins.ea === eaBase) return `(R[${ins.base}] + ${d}) | 0`;
  if (ins.ea === eaBaseIndex) return `(R[${ins.base}] + (R[${ins.index}] << ${ins.scale}) + ${d}) | 0`;
  if (ins.ea === eaIndex) return `((R[${ins.index}] << ${ins.scale}) + ${d}) | 0`;
  return null;
}

/**
 * Inline source for common instructions that never read EIP. `k` is the instruction's index (for
 * faults) and `exit` the statement that leaves the block after a write that may have hit code.
 * Anything else is a direct call to its handler.
 */
function inlineSource(ins: Insn, k: number, exit: string): string | null {
  const f = ins.fn;
  const mem = (body: string) => { const a = eaSource(ins); return a === null ? null : body.replace('EA', a); };
  if (f === O.mov32RM) return mem(`c.faultIndex = ${k}; R[${ins.reg}] = c.rd32(${ins.seg}, EA);`);
  if (f === O.mov32MR) return mem(`c.faultIndex = ${k}; c.wr32(${ins.seg}, EA, R[${ins.reg}]); ${exit}`);
  if (f === O.lea32) return mem(`R[${ins.reg}] = EA;`);
  if (f === O.push32r) return `c.faultIndex = ${k}; c.push32(R[${ins.reg}]); ${exit}`;
  if (f === O.pop32r) return `c.faultIndex = ${k}; { const v = c.pop32(); R[${ins.reg}] = v; }`;
  if (f === O.test32RR) return `c.setLogic(R[${ins.rm}] & R[${ins.reg}], 31);`;
  if (f === O.inc32r || f === O.dec32r) {
    const dec = f === O.dec32r;
    return `{ const a = R[${ins.reg}], r = (a ${dec ? '-' : '+'} 1) | 0; R[${ins.reg}] = r; incDec(c, a, r, ${dec}, 31); }`;
  }
  if (f === O.mov32RR) return `R[${ins.rm}] = R[${ins.reg}];`;
  if (f === O.mov32RRrev) return `R[${ins.reg}] = R[${ins.rm}];`;
  if (f === O.mov32RImm) return `R[${ins.reg}] = ${ins.imm | 0};`;
  let op = O.ALU_RR32.indexOf(f);
  if (op >= 0) return aluSource(op, `R[${ins.rm}]`, `R[${ins.reg}]`);
  op = O.ALU_RRREV32.indexOf(f);
  if (op >= 0) return aluSource(op, `R[${ins.reg}]`, `R[${ins.rm}]`);
  op = O.ALU_RIMM32.indexOf(f);
  if (op >= 0) return aluSource(op, `R[${ins.rm}]`, `${ins.imm | 0}`);
  return null;
}

export function compileBlock(b: Block): CompiledBlock | null {
  if (!available) return null;
  const insns = b.insns;
  const params: string[] = [];
  const args: unknown[] = [];
  const wrap = b.code32 ? ' | 0' : ' & 65535';
  let body = 'const b = c.eip, R = c.regs;\n';
  const last = insns.length - 1;
  for (let k = 0; k <= last; k++) {
    const ins = insns[k]!;
    const exit = k < last ? `if (c.exitBlock) { c.eip = (b + ${ins.end})${wrap}; return ${k + 1}; }` : '';
    const inline = inlineSource(ins, k, exit);
    if (inline !== null) {
      body += inline + (k === last ? ` c.eip = (b + ${ins.end})${wrap};\n` : '\n');
      continue;
    }
    params.push(`h${k}`, `i${k}`);
    args.push(ins.fn, ins);
    body += `c.faultIndex = ${k}; c.eip = (b + ${ins.end})${wrap}; h${k}(c, i${k});`;
    body += k < last ? ` if (c.exitBlock) return ${k + 1};\n` : '\n';
  }
  body += `return ${insns.length};`;
  try {
    // eslint-disable-next-line no-new-func
    return new Function('incDec', ...params, `return function block(c) {\n${body}\n};`)(O.incDecFlags, ...args) as CompiledBlock;
  } catch {
    available = false;
    return null;
  }
}
