/**
 * Hot-block compiler. A block that has run often enough is turned into one JS function that calls
 * each instruction's handler directly. Every call site then sees a single handler, so the engine
 * can inline the handlers instead of dispatching through one megamorphic `ins.fn(...)` site.
 * Without `new Function` (e.g. a page with a strict CSP) blocks stay interpreted.
 */
import type { CPU } from './cpu.js';
import type { Block } from './decode.js';

/** Runs the block; returns how many instructions completed. Sets `cpu.faultIndex` before each one. */
export type CompiledBlock = (c: CPU) => number;

/** Executions after which a block is compiled: a fresh function starts in the engine's bytecode tier, so only blocks that will run many more times repay it. */
export const HOT_BLOCK = 5000;

let available = true;

export function compileBlock(b: Block): CompiledBlock | null {
  if (!available) return null;
  const insns = b.insns;
  const params: string[] = [];
  const args: unknown[] = [];
  const wrap = b.code32 ? ' | 0' : ' & 65535';
  let body = 'const b = c.eip;\n';
  for (let k = 0; k < insns.length; k++) {
    const ins = insns[k]!;
    params.push(`h${k}`, `i${k}`);
    args.push(ins.fn, ins);
    body += `c.faultIndex = ${k}; c.eip = (b + ${ins.end})${wrap}; h${k}(c, i${k});`;
    body += k < insns.length - 1 ? ` if (c.exitBlock) return ${k + 1};\n` : '\n';
  }
  body += `return ${insns.length};`;
  try {
    // eslint-disable-next-line no-new-func
    return new Function(...params, `return function block(c) {\n${body}\n};`)(...args) as CompiledBlock;
  } catch {
    available = false;
    return null;
  }
}
