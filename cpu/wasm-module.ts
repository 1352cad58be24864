/**
 * A small WebAssembly binary writer for the code generator's regions: one module per region with
 * the guest memory and JS helpers imported, i32 locals, structured control flow with named labels.
 * Expressions are trees of byte arrays built bottom-up (operands first, as the stack machine wants),
 * flattened once when emitted (building them by copying made emitting quadratic in the nesting);
 * statements and control flow go through `Code`, which tracks the nesting so a branch names its
 * target label instead of a relative depth.
 */

export type Ex = (number | Ex)[];

function uleb(v: number, out: number[]): void {
  v >>>= 0;
  do { let b = v & 0x7f; v >>>= 7; if (v !== 0) b |= 0x80; out.push(b); } while (v !== 0);
}
function sleb(v: number, out: number[]): void {
  v |= 0;
  for (;;) {
    const b = v & 0x7f; v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) { out.push(b); return; }
    out.push(b | 0x80);
  }
}
const leb = (v: number): number[] => { const o: number[] = []; uleb(v, o); return o; };

// ---------------------------------------------------------------- i32 expressions

export const get = (l: number): Ex => (l < 128 ? [0x20, l] : [0x20, leb(l)]);
export const k32 = (v: number): Ex => { const o = [0x41]; sleb(v, o); return o; };
const bin = (op: number) => (a: Ex, b: Ex): Ex => [a, b, op];
export const eqz = (a: Ex): Ex => [a, 0x45];
export const eq = bin(0x46), ne = bin(0x47), ltS = bin(0x48), ltU = bin(0x49), gtS = bin(0x4a), gtU = bin(0x4b);
export const leS = bin(0x4c), leU = bin(0x4d), geS = bin(0x4e), geU = bin(0x4f);
export const add = bin(0x6a), sub = bin(0x6b), mul = bin(0x6c), and = bin(0x71), or = bin(0x72), xor = bin(0x73);
export const shl = bin(0x74), shrS = bin(0x75), shrU = bin(0x76), rotl = bin(0x77), rotr = bin(0x78);
export const popcnt = (a: Ex): Ex => [a, 0x69];
/** `c ? a : b` without a branch (both sides evaluated). */
export const select = (a: Ex, b: Ex, c: Ex): Ex => [a, b, c, 0x1b];
/** Loads and stores at `addr + offset` (unaligned accesses are fine in WebAssembly). */
export const load32 = (addr: Ex, offset = 0): Ex => [addr, 0x28, 0, leb(offset)];
export const load16u = (addr: Ex, offset = 0): Ex => [addr, 0x2f, 0, leb(offset)];
export const load8u = (addr: Ex, offset = 0): Ex => [addr, 0x2d, 0, leb(offset)];
/** The low and high halves of the 64-bit product of two i32 values, signed or unsigned. */
export const mulWide = (a: Ex, b: Ex, signed: boolean): { lo: Ex; hi: Ex } => {
  const ext = signed ? 0xac : 0xad;
  const p = [a, ext, b, ext, 0x7e];
  return { lo: [p, 0xa7], hi: [p, 0x42, 32, signed ? 0x87 : 0x88, 0xa7] };
};
/** Quotient and remainder of the unsigned 64-bit hi:lo by the unsigned i32 `d` (both must fit i32). */
export const divWideU = (hi: Ex, lo: Ex, d: Ex): { q: Ex; r: Ex } => {
  const n = [[hi, 0xad, 0x42, 32, 0x86], [lo, 0xad], 0x84], dd = [d, 0xad];
  return { q: [n, dd, 0x80, 0xa7], r: [n, dd, 0x82, 0xa7] };
};
/** Trailing and leading zero bits of an i32. */
export const ctz = (a: Ex): Ex => [a, 0x68];
export const clz = (a: Ex): Ex => [a, 0x67];
/** Whether the signed 64-bit product of two i32 values differs from its low 32 bits sign-extended. */
export const mulOverflows = (a: Ex, b: Ex): Ex => {
  const p = [a, 0xac, b, 0xac, 0x7e];
  return [p, p, 0xa7, 0xac, 0x52];
};

// ---------------------------------------------------------------- statements and control flow

/** A function body: locals (all i32) after the parameters, and the code. */
export class Code {
  readonly bytes: number[] = [];
  private depth = 0;
  /** Depths at which each label is open (innermost last), and the label opened at each depth. */
  private readonly labels = new Map<string, number[]>();
  private readonly opened: (string | undefined)[] = [];
  private nLocals: number;

  constructor(readonly params: number) { this.nLocals = params; }

  /** Makes locals 0..n-1 (parameters included) exist. */
  ensureLocals(n: number): void { if (n > this.nLocals) this.nLocals = n; }
  get localCount(): number { return this.nLocals - this.params; }

  emit(e: Ex): void {
    const out = this.bytes;
    for (let i = 0; i < e.length; i++) { const x = e[i]!; if (typeof x === 'number') out.push(x); else this.emit(x); }
  }
  /** Puts code (a balanced sequence built with another Code) before everything emitted so far. */
  prepend(e: number[]): void { this.bytes.unshift(...e); }
  set(l: number, v: Ex): void { this.emit(v); this.bytes.push(0x21); uleb(l, this.bytes); }
  store32(addr: Ex, v: Ex, offset = 0): void { this.emit(addr); this.emit(v); this.bytes.push(0x36, 0); uleb(offset, this.bytes); }
  store16(addr: Ex, v: Ex, offset = 0): void { this.emit(addr); this.emit(v); this.bytes.push(0x3b, 0); uleb(offset, this.bytes); }
  store8(addr: Ex, v: Ex, offset = 0): void { this.emit(addr); this.emit(v); this.bytes.push(0x3a, 0); uleb(offset, this.bytes); }
  /** Calls function `f` (its arguments pushed by `args`); the result, if any, stays on the stack. */
  call(f: number, ...args: Ex[]): void { for (const a of args) this.emit(a); this.bytes.push(0x10, ...leb(f)); }
  drop(): void { this.bytes.push(0x1a); }

  private open(op: number, label?: string): void {
    this.bytes.push(op, 0x40);
    this.depth++;
    this.opened[this.depth] = label;
    if (label !== undefined) {
      const at = this.labels.get(label);
      if (at === undefined) this.labels.set(label, [this.depth]); else at.push(this.depth);
    }
  }
  block(label: string): void { this.open(0x02, label); }
  loop(label: string): void { this.open(0x03, label); }
  if(cond: Ex, label?: string): void { this.emit(cond); this.open(0x04, label); }
  else(): void { this.bytes.push(0x05); }
  end(): void {
    const label = this.opened[this.depth];
    if (label !== undefined) this.labels.get(label)!.pop();
    this.bytes.push(0x0b);
    this.depth--;
  }
  private rel(label: string): number {
    const at = this.labels.get(label);
    if (at === undefined || at.length === 0) throw new Error(`wasm: no label ${label} in scope`);
    return this.depth - at[at.length - 1]!;
  }
  br(label: string): void { this.bytes.push(0x0c, ...leb(this.rel(label))); }
  brIf(label: string, cond: Ex): void { this.emit(cond); this.bytes.push(0x0d, ...leb(this.rel(label))); }
  /** Branches to `targets[index]`, or to `dflt` when the index is out of range. */
  brTable(index: Ex, targets: string[], dflt: string): void {
    this.emit(index);
    this.bytes.push(0x0e, ...leb(targets.length));
    for (const t of targets) this.bytes.push(...leb(this.rel(t)));
    this.bytes.push(...leb(this.rel(dflt)));
  }
  ret(v: Ex): void { this.emit(v); this.bytes.push(0x0f); }
}

// ---------------------------------------------------------------- modules

export interface FuncSpec {
  /** Number of i32 parameters and i32 results (0 or 1). */
  params: number;
  results: 0 | 1;
}

const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const funcType = (f: FuncSpec): number[] => [0x60, ...leb(f.params), ...new Array<number>(f.params).fill(0x7f), ...leb(f.results), ...(f.results ? [0x7f] : [])];

/**
 * Module bytes: imports `env.mem` (a memory of `pages` 64 KiB pages, shared or not), with `table`
 * also `env.tbl` (a table of functions), and the JS functions `imports` (as env.f0, env.f1, ...);
 * defines `funcs` (function indices continue after the imports) and exports the first ones under
 * the names in `exports` (default: the first as `run`).
 */
export function moduleBytes(pages: number, shared: boolean, imports: FuncSpec[], funcs: { spec: FuncSpec; code: Code }[],
  { table = false, exports = ['run'] }: { table?: boolean; exports?: string[] } = {}): Uint8Array<ArrayBuffer> {
  const specs = [...imports, ...funcs.map((f) => f.spec)];
  const types: number[] = [...leb(specs.length)];
  for (const s of specs) types.push(...funcType(s));
  const imp: number[] = [...leb(imports.length + 1 + (table ? 1 : 0))];
  imp.push(...name('env'), ...name('mem'), 0x02, shared ? 0x03 : 0x01, ...leb(pages), ...leb(pages));
  if (table) imp.push(...name('env'), ...name('tbl'), 0x01, 0x70, 0x00, 0x00);
  imports.forEach((_, i) => imp.push(...name('env'), ...name(`f${i}`), 0x00, ...leb(i)));
  const fns: number[] = [...leb(funcs.length)];
  funcs.forEach((_, i) => fns.push(...leb(imports.length + i)));
  const exp = [...leb(exports.length)];
  exports.forEach((x, i) => exp.push(...name(x), 0x00, ...leb(imports.length + i)));
  const code: number[][] = [leb(funcs.length)];
  for (const f of funcs) {
    const n = f.code.localCount;
    const head = n ? [1, ...leb(n), 0x7f] : [0];
    code.push(leb(head.length + f.code.bytes.length + 1), head, f.code.bytes, [0x0b]);
  }
  const codeLength = code.reduce((t, p) => t + p.length, 0);
  // Copied into one buffer, never spread or concatenated: a region's code is up to megabytes.
  const parts = [[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0], section(1, types), section(2, imp), section(3, fns), section(7, exp),
    [10], leb(codeLength), ...code];
  const out = new Uint8Array(parts.reduce((t, p) => t + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
