/**
 * The i686 CPU: architectural state, the software TLB, segmented memory access, lazy flags and
 * the block-cached execution loop. Instruction semantics live in ops-*.ts, protection and
 * interrupt delivery in protect.ts, decoding in decode.ts.
 */
import type { PhysicalMemory } from '../bus/memory.js';
import { PageKind } from '../bus/memory.js';
import type { IoBus } from '../bus/io.js';
import type { Clock } from '../bus/clock.js';
import { ARITH, AF, CF, IF, Lazy, OF, PARITY, PF, SF, TF, VM, ZF, RF, EFLAGS_WRITABLE, AC } from './flags.js';
import { X87 } from './fpu/x87.js';
import type { Block } from './decode.js';
import { decodeBlock } from './decode.js';
import { CodeCache } from './code-cache.js';
import { compileRegion, HOT_BLOCK, WARM_BLOCK, STEADY_BLOCK, STEADY_EPOCH, STEADY_DECODED, REGION_WARMUP, WARMUP_BUDGET } from './codegen.js';
import { STATE_SLOTS, SYNC_BYTES } from './codegen-wasm.js';
import { deliverInterrupt, loadSegUnchecked, Vec } from './protect.js';
import { MsrState, MSR_TSC } from './msr.js';
import { Entropy } from './entropy.js';

export const enum Reg { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI }
export const enum Seg { ES, CS, SS, DS, FS, GS }
/** Pseudo segment index used by the decoder when no segment applies (LEA). */
export const SEG_NONE = 6;

/** What a loader hands over: flat 32-bit protected mode from a GDT the loader wrote to memory. */
export interface BootStateLike {
  eip: number;
  regs: { eax: number; ecx: number; edx: number; ebx: number; esp: number; ebp: number; esi: number; edi: number };
  gdt: { base: number; limit: number };
  /** Selector for CS. */
  cs: number;
  /** Selector for DS, ES, SS, FS and GS. */
  ds: number;
  /** Bit 1 only: interrupts off. */
  eflags: number;
  /** PE set, PG clear. */
  cr0: number;
}

export interface InterruptController {
  hasInterrupt(): boolean;
  /** Returns the vector of the highest-priority pending interrupt and moves it in service. */
  acknowledge(): number;
}

/** Thrown (as this singleton) by a handler that raised a fault; details are on the CPU. */
export const FAULT = { fault: true } as const;

// Software TLB entry bits (low 12 bits of an entry; the high 20 hold the physical page).
export const TLB_SR = 1, TLB_SW = 2, TLB_UR = 4, TLB_UW = 8;
/** Not plain RAM: go through PhysicalMemory. */
export const TLB_SLOW = 16;
export const TLB_GLOBAL = 32;
/** Listed TLB pages (past this, a flush scans all 2^20 entries): non-global, global (the kernel's). */
const TLB_LOCAL_MAX = 8192, TLB_GLOBAL_MAX = 65536;
/** Address spaces whose TLB pages are kept across CR3 writes, and pages kept per space. */
const SPACES_KEPT = 64, PAGES_KEPT = 64;

/**
 * TLB bits of a leaf entry: reads (user ones if the walk allows), writes only once the dirty bit is
 * set (the first write must set it through the page walk), global with CR4.PGE.
 */
function leafBits(pte: number, userOk: boolean, writeOk: boolean, cr0: number, cr4: number): number {
  let bits = TLB_SR | TLB_UR * +userOk;
  if (pte & 0x40) {
    if (writeOk || !(cr0 & CR0_WP)) bits |= TLB_SW;
    if (userOk && writeOk) bits |= TLB_UW;
  }
  if ((pte & 0x100) && (cr4 & CR4_PGE)) bits |= TLB_GLOBAL;
  return bits;
}

/**
 * Byte offsets in the memory's core area (bus/memory.ts CORE_AREA_BYTES): the TLB, the registers,
 * the state area WebAssembly regions exchange lazy flags and exits through, and the region links
 * that chain them (codegen-wasm.ts).
 */
export const CORE = { tlb: 0, regs: 4 << 20, state: (4 << 20) + 64, links: (4 << 20) + 1024 } as const;

export const CR0_PE = 1, CR0_MP = 2, CR0_EM = 4, CR0_TS = 8, CR0_ET = 0x10, CR0_NE = 0x20, CR0_WP = 0x10000, CR0_AM = 0x40000, CR0_NW = 0x20000000, CR0_CD = 0x40000000, CR0_PG = 0x80000000 | 0;
export const CR4_VME = 1, CR4_PVI = 2, CR4_TSD = 4, CR4_DE = 8, CR4_PSE = 0x10, CR4_PAE = 0x20, CR4_PGE = 0x80, CR4_PCE = 0x100, CR4_OSFXSR = 0x200;

export class CPU {
  readonly mem: PhysicalMemory;
  readonly io: IoBus;
  readonly clock: Clock;
  readonly ram: Uint8Array;
  readonly ram32: Int32Array;
  /** The RAM as a little-endian DataView (compiled code's loads and stores). */
  readonly ramView: DataView;
  /** Physical pages holding decoded code (a write there invalidates blocks). */
  readonly codePages: Uint8Array;

  /** In the memory's core area (CORE at mem.coreBase), beside the TLB: compiled code reaches both by offset. */
  readonly regs: Int32Array;
  readonly r16: Uint16Array;
  readonly r8: Uint8Array;
  /** The state area of compiled WebAssembly regions (codegen-wasm.ts). */
  readonly wasmState: Int32Array;
  /** Offset in CS, kept as an int32 (read it with `>>> 0`): a double here would allocate per instruction. */
  eip = 0;

  /** Materialized EFLAGS bits; the arithmetic bits in `lazyMask` are stale and derived from lazy state. */
  flags = 2;
  lazyMask = 0;
  lazyKind: Lazy = Lazy.Add;
  lazyA = 0;
  lazyB = 0;
  lazyRes = 0;
  /** Top bit index of the last arithmetic operation (7, 15 or 31). */
  lazyTop = 31;

  // Segment registers: selector and descriptor cache. Index 6 = LDTR, 7 = TR.
  readonly sel = new Uint16Array(8);
  readonly segBase = new Int32Array(8);
  readonly segLimit = new Uint32Array(8);
  /** Descriptor attribute bits 8..23 of the high dword (type, S, DPL, P, AVL, D/B, G) as stored in the GDT. */
  readonly segAttr = new Uint16Array(8);
  /** Valid offset windows for reads and writes (expand-down and unusable segments folded in). */
  readonly segRLo = new Uint32Array(7);
  readonly segRHi = new Float64Array(7);
  readonly segWLo = new Uint32Array(7);
  readonly segWHi = new Float64Array(7);

  gdtBase = 0; gdtLimit = 0xffff;
  idtBase = 0; idtLimit = 0x3ff;

  readonly cr = new Int32Array(5);
  readonly dr = new Int32Array(8);
  cpl = 0;
  /** CS.D: default operand and address size of the code segment. */
  code32 = false;
  /** SS.B: ESP or SP. */
  stack32 = false;
  readonly msr = new MsrState();
  readonly fpu: X87;

  // TLB: one entry per 4 KiB linear page (in the memory's core area). The pages filled since they
  // were last flushed are listed, global ones apart, so a CR3 write visits only the others (the
  // kernel's global pages are most of the TLB: the list walk was most of a context switch).
  readonly tlb: Int32Array;
  private readonly tlbLocal = new Int32Array(TLB_LOCAL_MAX);
  private readonly tlbGlobal = new Int32Array(TLB_GLOBAL_MAX);
  private tlbLocalCount = 0;
  private tlbGlobalCount = 0;
  /** A list ran full: the next flush scans the whole TLB and lists it again. */
  private tlbOverflow = false;
  /**
   * The pages each recent address space (by CR3) had in the TLB when it was switched out. Switching
   * back refills those whose page-table entries still allow it without a write (see `prefetch`):
   * a pipeline switches processes tens of thousands of times a second, and each switch otherwise
   * costs every page the process touches again a miss (a page walk, and in compiled code a side
   * exit).
   */
  private readonly spacePages = new Map<number, { pages: Int32Array; n: number }>();
  /** Masks for the current privilege: (entry & mask) === bit means the fast path applies. */
  rBit = TLB_SR; rMask = TLB_SR | TLB_SLOW;
  wBit = TLB_SW; wMask = TLB_SW | TLB_SLOW;

  // Decoded code.
  /** Decoded blocks per (physical page, decode mode) slot and page offset. */
  private readonly blocks: CodeCache;
  private readonly pageBlocks = new Map<number, Block[]>();
  private curBlock: Block | null = null;
  /** Set by a handler (or a code write) to leave the current block after this instruction. */
  exitBlock = false;
  /**
   * Index in the running block of the instruction being executed: where a fault in compiled code
   * happened, and how far the block got for `retired()` (set before every instruction that can
   * fault or read the clock).
   */
  faultIndex = 0;
  /** Where compiled code left in the middle of a block (the interpreter runs the rest of it). */
  resumeBlock: Block | null = null;
  resumeIndex = 0;
  /** A fault raised under compiled code, to be delivered once the region has written its state back. */
  pendingFault = false;
  /** Set when a code write invalidated decoded blocks (compiled regions check it after writes). */
  codeDirty = false;
  /** Bit s set while segment s has base 0 and full 4 GiB read and write windows (compiled code skips its checks). */
  flatSegs = 0;
  /** Bumped whenever a segment's base or windows change (compiled code copies them only then). */
  segGen = 0;
  /**
   * Bumped whenever linear-to-physical translation, CS or the decode mode may have changed: a
   * compiled region ends at the next block boundary when it moves (block links check the TLB instead).
   */
  chainEpoch = 0;

  halted = false;
  shutdown = false;
  /** Interrupt shadow after STI / MOV SS / POP SS: one instruction runs before INTR is checked. */
  private shadow = false;
  private intrCheck = true;
  private nmiPending = false;
  nmiBlocked = false;
  interrupts: InterruptController | null = null;
  onShutdown: (reason: string) => void = () => {};
  onHypercall: (cpu: CPU) => boolean = () => false;
  /** FERR# (an unmasked x87 exception with CR0.NE=0): the PC wires it to IRQ 13. */
  onFerr: () => void = () => {};
  /** Retired instructions. */
  instructions = 0;

  // Fault being raised (valid while FAULT propagates).
  faultVector = 0;
  faultCode = 0;
  faultHasCode = false;
  /** The exception being delivered (-1 when none), to escalate to #DF and triple fault. */
  firstFault = -1;
  /** TSC = clock TSC + offset (WRMSR to the TSC moves the offset). */
  tscOffset = 0;
  /** RDRAND's source: the host's with the realtime clock, a fixed-seed stream with the virtual one. */
  readonly entropy: Entropy;
  /** The TSC as last read and `retired()` then; -Infinity after a TSC write. */
  private tscLast = -Infinity;
  private tscLastAt = 0;

  /** Extra CPUID leaves supplied by the platform (e.g. the KVM paravirtual leaves); null = default. */
  cpuidHook: ((leaf: number, sub: number) => [number, number, number, number] | null) | null = null;
  /** Optional CPUID.1 bits: APIC (when a local APIC is attached), its TSC-deadline timer mode, and the hypervisor-present bit. */
  cpuidApic = false;
  cpuidTscDeadline = false;
  cpuidHypervisor = false;

  /**
   * Executions after which a block is compiled; 0 compiles every block when it is decoded. Given
   * in the options it stays; by default (WebAssembly back end) it is WARM_BLOCK, or STEADY_BLOCK
   * while the guest decodes next to no new code (see STEADY_BLOCK).
   */
  compileThreshold: number;
  private readonly coldThreshold: number;
  private readonly adaptive: boolean;
  /** Instructions decoded since the epoch began, and the instruction count that ends it. */
  private decoded = 0;
  private epochEnd = 0;

  /** The code generator's back end for 32-bit code: 'wasm' where the engine allows it, else 'js'. */
  readonly backEnd: 'wasm' | 'js';

  /** WebAssembly regions compile in the background and attach when ready (the run loop must yield to the event loop). */
  readonly compileAsync: boolean;
  /** With compileAsync, modules up to this many bytes still compile at once (SYNC_BYTES by default). */
  readonly syncCompileBytes: number;

  constructor(opts: { mem: PhysicalMemory; io: IoBus; clock: Clock; compileThreshold?: number; backEnd?: 'wasm' | 'js'; compileAsync?: boolean; syncCompileBytes?: number }) {
    this.compileAsync = opts.compileAsync ?? false;
    this.syncCompileBytes = opts.syncCompileBytes ?? SYNC_BYTES;
    this.backEnd = opts.backEnd ?? (opts.mem.memory !== null ? 'wasm' : 'js');
    this.compileThreshold = this.coldThreshold = opts.compileThreshold ?? (this.backEnd === 'wasm' ? WARM_BLOCK : HOT_BLOCK);
    this.adaptive = opts.compileThreshold === undefined && this.backEnd === 'wasm';
    this.mem = opts.mem;
    this.io = opts.io;
    this.clock = opts.clock;
    this.entropy = new Entropy(opts.clock.mode === 'realtime');
    this.ram = opts.mem.ram;
    this.ram32 = new Int32Array(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength >>> 2);
    this.ramView = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
    this.codePages = opts.mem.codePages;
    const buf = this.ram.buffer, core = opts.mem.coreBase;
    this.tlb = new Int32Array(buf, core + CORE.tlb, 1 << 20);
    this.regs = new Int32Array(buf, core + CORE.regs, 8);
    this.r16 = new Uint16Array(buf, core + CORE.regs, 16);
    this.r8 = new Uint8Array(buf, core + CORE.regs, 32);
    this.wasmState = new Int32Array(buf, core + CORE.state, STATE_SLOTS);
    this.blocks = new CodeCache(this.ram.byteLength);
    opts.clock.attachInstructionCounter(() => this.retired(), (n) => this.stopAt(n));
    opts.mem.onCodeWrite = (addr, len) => this.invalidateCode(addr, len);
    this.msr.handlers.set(MSR_TSC, {
      read: () => BigInt(this.readTsc()),
      write: (v) => { this.tscOffset = Number(v) - this.clock.tsc(); this.tscLast = -Infinity; return true; },
    });
    this.fpu = new X87({
      read8: (l) => this.readLin8(l), read16: (l) => this.readLin16(l), read32: (l) => this.readLin32(l),
      write8: (l, v) => this.writeLin8(l, v), write16: (l, v) => this.writeLin16(l, v), write32: (l, v) => this.writeLin32(l, v),
      probeWrite: (l, n) => this.probeWrite(l, n),
      ramSpan: (l, n, w) => this.ramSpan(l, n, w),
      ram: this.ram,
      raiseMF: () => this.raise(Vec.MF),
      signalFerr: () => this.onFerr(),
      cr0NE: () => (this.cr[0] & CR0_NE) !== 0,
      eflags: () => this.getEflags(),
      setFcomiFlags: (zpc) => {
        this.materialize();
        this.flags = (this.flags & ~(ZF | PF | CF | OF | SF | AF)) | (zpc & (ZF | PF | CF));
      },
    });
    this.reset();
  }

  /** Power-on reset (INIT state of the SDM, table 9-1). */
  reset(): void {
    this.regs.fill(0);
    this.regs[Reg.EDX] = 0x0665; // the CPUID.1 signature
    this.eip = 0xfff0;
    this.flags = 2; this.lazyMask = 0;
    this.cr.fill(0);
    this.cr[0] = CR0_ET | CR0_CD | CR0_NW;
    this.dr.fill(0); this.dr[6] = 0xffff0ff0 | 0; this.dr[7] = 0x400;
    for (let s = 0; s < 6; s++) this.loadRealSeg(s, 0);
    this.sel[Seg.CS] = 0xf000; this.segBase[Seg.CS] = 0xffff0000 | 0;
    for (const s of [6, 7]) { this.sel[s] = 0; this.segBase[s] = 0; this.segLimit[s] = 0xffff; this.segAttr[s] = s === 6 ? 0x82 : 0x8b; }
    this.gdtBase = 0; this.gdtLimit = 0xffff; this.idtBase = 0; this.idtLimit = 0x3ff;
    this.cpl = 0; this.code32 = false; this.stack32 = false;
    this.msr.reset();
    this.fpu.reset();
    this.halted = false; this.shutdown = false; this.shadow = false; this.nmiPending = false; this.nmiBlocked = false;
    this.flushTlb(true);
    this.updatePrivilege();
    // A reset starts a boot: the compile threshold starts over as for one.
    this.compileThreshold = this.coldThreshold; this.decoded = 0; this.epochEnd = this.instructions + STEADY_EPOCH;
  }

  /** Flat 32-bit protected mode at ring 0 without a GDT in memory (for loaders and tests). */
  loadFlat32(): void {
    this.cr[0] |= CR0_PE;
    for (let s = 0; s < 6; s++) {
      const code = s === Seg.CS;
      this.setSegCache(s, code ? 0x08 : 0x10, 0, 0xffffffff, code ? 0xc09b : 0xc093);
    }
    this.cpl = 0; this.code32 = true; this.stack32 = true;
    this.flags = 2; this.lazyMask = 0;
    this.halted = false; this.shutdown = false;
    this.flushTlb(true);
    this.updatePrivilege();
  }

  /**
   * Enters the state a boot loader hands over (Linux 32-bit boot protocol, Multiboot): flat
   * protected mode from the loader's GDT in memory, paging and interrupts off.
   */
  loadBootState(st: BootStateLike): void {
    this.reset();
    this.cr[0] = (st.cr0 | CR0_PE | CR0_ET) & ~(CR0_PG | CR0_CD | CR0_NW);
    this.gdtBase = st.gdt.base | 0; this.gdtLimit = st.gdt.limit;
    this.flushTlb(true);
    loadSegUnchecked(this, Seg.CS, st.cs);
    for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) loadSegUnchecked(this, s, st.ds);
    this.cpl = 0;
    const r = st.regs;
    this.regs.set([r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi]);
    this.eip = st.eip | 0;
    this.setEflags(st.eflags);
    this.updatePrivilege();
  }

  // ---------------------------------------------------------------- flags

  getEflags(): number {
    const m = this.lazyMask;
    if (m === 0) return this.flags;
    let f = this.flags & ~m;
    if (m & CF) f |= this.lazyCF();
    if (m & PF) f |= PARITY[this.lazyRes & 0xff]!;
    if (m & AF) f |= (this.lazyA ^ this.lazyB ^ this.lazyRes) & AF;
    if (m & ZF) f |= ((this.lazyRes << (31 - this.lazyTop)) === 0) ? ZF : 0;
    if (m & SF) f |= ((this.lazyRes >>> this.lazyTop) & 1) ? SF : 0;
    if (m & OF) f |= this.lazyOF();
    return f;
  }

  /** Writes every EFLAGS bit (mode-dependent masking is the caller's job). */
  setEflags(v: number): void {
    const old = this.flags;
    this.flags = (v & EFLAGS_WRITABLE) | 2;
    this.lazyMask = 0;
    if ((old ^ this.flags) & (IF | TF | VM)) { this.intrCheck = true; this.exitBlock = true; }
    if ((old ^ this.flags) & (VM | AC)) this.updatePrivilege();
  }

  private lazyCF(): number {
    const a = this.lazyA, b = this.lazyB, r = this.lazyRes;
    const c = this.lazyKind === Lazy.Add ? (a & b) | ((a ^ b) & ~r) : (~a & b) | (~(a ^ b) & r);
    return (c >>> this.lazyTop) & 1;
  }

  private lazyOF(): number {
    const a = this.lazyA, b = this.lazyB, r = this.lazyRes;
    const o = this.lazyKind === Lazy.Add ? (a ^ r) & (b ^ r) : (a ^ b) & (a ^ r);
    return ((o >>> this.lazyTop) & 1) ? OF : 0;
  }

  getCF(): number { return (this.lazyMask & CF) ? this.lazyCF() : this.flags & CF; }
  getZF(): boolean { return (this.lazyMask & ZF) ? (this.lazyRes << (31 - this.lazyTop)) === 0 : (this.flags & ZF) !== 0; }
  getSF(): boolean { return (this.lazyMask & SF) ? ((this.lazyRes >>> this.lazyTop) & 1) !== 0 : (this.flags & SF) !== 0; }
  getOF(): boolean { return (this.lazyMask & OF) ? this.lazyOF() !== 0 : (this.flags & OF) !== 0; }
  getPF(): boolean { return (this.lazyMask & PF) ? PARITY[this.lazyRes & 0xff] !== 0 : (this.flags & PF) !== 0; }
  getAF(): boolean { return (this.lazyMask & AF) ? ((this.lazyA ^ this.lazyB ^ this.lazyRes) & AF) !== 0 : (this.flags & AF) !== 0; }

  /** Records an ADD/SUB-class result; all six arithmetic flags become lazy. */
  setLazy(kind: Lazy, a: number, b: number, res: number, top: number): void {
    this.lazyKind = kind; this.lazyA = a; this.lazyB = b; this.lazyRes = res; this.lazyTop = top;
    this.lazyMask = ARITH;
  }

  /** Logic result: CF=OF=AF=0, SF/ZF/PF from the result. */
  setLogic(res: number, top: number): void {
    this.flags &= ~(CF | OF | AF | this.lazyMask);
    this.lazyRes = res; this.lazyTop = top; this.lazyA = 0; this.lazyB = 0;
    this.lazyMask = SF | ZF | PF;
  }

  /** Sets arithmetic flags explicitly, keeping any others. */
  setArith(bits: number, mask: number): void {
    const f = this.getEflags();
    this.flags = (f & ~mask) | (bits & mask);
    this.lazyMask = 0;
  }

  /** Materializes the flags; needed before an op that keeps some of them (INC/DEC keep CF). */
  materialize(): void {
    if (this.lazyMask) { this.flags = this.getEflags(); this.lazyMask = 0; }
  }

  // ---------------------------------------------------------------- registers

  getReg8(r: number): number { return this.r8[(r & 3) << 2 | r >> 2]!; }
  setReg8(r: number, v: number): void { this.r8[(r & 3) << 2 | r >> 2] = v; }
  getReg16(r: number): number { return this.r16[r << 1]!; }
  setReg16(r: number, v: number): void { this.r16[r << 1] = v; }
  getReg(size: number, r: number): number {
    return size === 4 ? this.regs[r]! : size === 2 ? this.r16[r << 1]! : this.r8[(r & 3) << 2 | r >> 2]!;
  }
  setReg(size: number, r: number, v: number): void {
    if (size === 4) this.regs[r] = v; else if (size === 2) this.r16[r << 1] = v; else this.r8[(r & 3) << 2 | r >> 2] = v;
  }

  // ---------------------------------------------------------------- faults

  raise(vector: number, code?: number): never {
    this.faultVector = vector;
    this.faultHasCode = code !== undefined;
    this.faultCode = code ?? 0;
    throw FAULT;
  }

  gp(code = 0): never { return this.raise(Vec.GP, code); }
  ud(): never { return this.raise(Vec.UD); }

  // ---------------------------------------------------------------- TLB and paging

  /** Drop TLB entries; global ones survive unless `all`. */
  flushTlb(all: boolean): void {
    this.chainEpoch++;
    const tlb = this.tlb;
    if (this.tlbOverflow) {
      if (all) tlb.fill(0);
      else for (let i = 0; i < tlb.length; i++) { if ((tlb[i]! & TLB_GLOBAL) === 0) tlb[i] = 0; }
      this.tlbLocalCount = 0; this.tlbGlobalCount = 0; this.tlbOverflow = false;
      if (!all) this.rebuildTlbLists();
      return;
    }
    // A page listed as local may have turned global since (it is then listed as global too).
    for (let i = 0; i < this.tlbLocalCount; i++) {
      const page = this.tlbLocal[i]!;
      if (all || (tlb[page]! & TLB_GLOBAL) === 0) tlb[page] = 0;
    }
    this.tlbLocalCount = 0;
    if (all) {
      for (let i = 0; i < this.tlbGlobalCount; i++) tlb[this.tlbGlobal[i]!] = 0;
      this.tlbGlobalCount = 0;
    }
  }

  private rebuildTlbLists(): void {
    const tlb = this.tlb;
    for (let i = 0; i < tlb.length; i++) if (tlb[i] !== 0) this.listTlbPage(i, tlb[i]! & TLB_GLOBAL);
  }

  /** Lists a page whose TLB entry was just filled (or changed between global and not). */
  private listTlbPage(page: number, global: number): void {
    if (global) {
      if (this.tlbGlobalCount < TLB_GLOBAL_MAX) this.tlbGlobal[this.tlbGlobalCount++] = page; else this.tlbOverflow = true;
    } else if (this.tlbLocalCount < TLB_LOCAL_MAX) this.tlbLocal[this.tlbLocalCount++] = page; else this.tlbOverflow = true;
  }

  invlpg(lin: number): void { this.tlb[lin >>> 12] = 0; this.chainEpoch++; }

  /** A MOV to CR3: the outgoing space's pages are kept, the TLB flushed, the incoming space's refilled. */
  private switchAddressSpace(cr3: number): void {
    const n = this.tlbLocalCount, out = this.cr[3]!;
    if (!this.tlbOverflow && n > 0) {
      let kept = this.spacePages.get(out);
      if (kept === undefined) {
        // Bounded: the least recently switched-out space gives way (a Map iterates in insertion order).
        if (this.spacePages.size >= SPACES_KEPT) this.spacePages.delete(this.spacePages.keys().next().value!);
        kept = { pages: new Int32Array(PAGES_KEPT), n: 0 };
      } else this.spacePages.delete(out);
      this.spacePages.set(out, kept);
      // The most recently filled pages, when there are more than fit.
      kept.n = Math.min(n, PAGES_KEPT);
      kept.pages.set(this.tlbLocal.subarray(n - kept.n, n));
    }
    this.cr[3] = cr3;
    this.flushTlb(false);
    const back = this.spacePages.get(cr3);
    if (back !== undefined && (this.cr[0]! & CR0_PG)) for (let i = 0; i < back.n; i++) this.prefetch(back.pages[i]!);
  }

  /**
   * Fills the TLB entry of linear page `vpage` from the page tables if a walk would change nothing
   * in them (present, accessed bits set; write access only with the dirty bit set, as `translate`
   * grants it) and would not fault: what a CPU may cache at any time. Otherwise leaves it empty.
   */
  private prefetch(vpage: number): void {
    if (this.tlb[vpage] !== 0) return;
    const cr0 = this.cr[0]!, cr4 = this.cr[4]!;
    const pdeAddr = ((this.cr[3]! & ~0xfff) | ((vpage >>> 8) & 0xffc)) >>> 0;
    const pde = this.physRead32(pdeAddr);
    if ((pde & 0x21) !== 0x21) return;
    let pte: number, phys: number, userOk: boolean, writeOk: boolean;
    if ((pde & 0x80) && (cr4 & CR4_PSE)) {
      if (pde & 0x3fe000) return;
      pte = pde;
      phys = ((pde & 0xffc00000) | ((vpage << 12) & 0x3ff000)) >>> 0;
      userOk = (pde & 4) !== 0; writeOk = (pde & 2) !== 0;
    } else {
      pte = this.physRead32(((pde & ~0xfff) | ((vpage << 2) & 0xffc)) >>> 0);
      if ((pte & 0x21) !== 0x21) return;
      phys = (pte & ~0xfff) >>> 0;
      userOk = (pde & pte & 4) !== 0; writeOk = (pde & pte & 2) !== 0;
    }
    this.fillTlb(vpage, phys, leafBits(pte, userOk, writeOk, cr0, cr4));
  }

  /**
   * Translates a linear address for an access, walking the page tables and filling the TLB.
   * Raises #PF with the architectural error code and CR2 on failure.
   */
  translate(lin: number, write: boolean, user: boolean): number {
    let phys: number, bits: number;
    const cr0 = this.cr[0]!;
    if (cr0 & CR0_PG) {
      const cr4 = this.cr[4]!;
      const pdeAddr = ((this.cr[3]! & ~0xfff) | ((lin >>> 20) & 0xffc)) >>> 0;
      let pde = this.physRead32(pdeAddr);
      if (!(pde & 1)) this.pageFault(lin, 0, write, user);
      let pte: number, pteAddr: number;
      let userOk: boolean, writeOk: boolean;
      if ((pde & 0x80) && (cr4 & CR4_PSE)) {
        // 4 MiB page: the PDE is the leaf. Bits 21:13 are reserved without PSE-36.
        if (pde & 0x3fe000) { this.cr[2] = lin; this.raise(Vec.PF, 1 | 8 | (write ? 2 : 0) | (user ? 4 : 0)); }
        pte = pde; pteAddr = pdeAddr;
        phys = ((pde & 0xffc00000) | (lin & 0x3ff000)) >>> 0;
        userOk = (pde & 4) !== 0; writeOk = (pde & 2) !== 0;
      } else {
        pteAddr = ((pde & ~0xfff) | ((lin >>> 10) & 0xffc)) >>> 0;
        pte = this.physRead32(pteAddr);
        if (!(pte & 1)) this.pageFault(lin, 0, write, user);
        phys = (pte & ~0xfff) >>> 0;
        userOk = (pde & pte & 4) !== 0; writeOk = (pde & pte & 2) !== 0;
      }
      if (user) {
        if (!userOk || (write && !writeOk)) this.pageFault(lin, 1, write, user);
      } else if (write && !writeOk && (cr0 & CR0_WP)) {
        this.pageFault(lin, 1, write, user);
      }
      // Accessed on the PDE of a 4 KiB page, accessed (+dirty on write) on the leaf.
      if (pteAddr !== pdeAddr && !(pde & 0x20)) { pde |= 0x20; this.physWrite32(pdeAddr, pde); }
      const want = write ? 0x60 : 0x20;
      if ((pte & want) !== want) { pte |= want; this.physWrite32(pteAddr, pte); }
      bits = leafBits(pte, userOk, writeOk, cr0, cr4);
    } else {
      phys = lin >>> 0 & ~0xfff;
      bits = TLB_SR | TLB_SW | TLB_UR | TLB_UW;
    }
    this.fillTlb(lin >>> 12, phys, bits);
    return (phys | (lin & 0xfff)) >>> 0;
  }

  /** Sets the TLB entry of linear page `vpage` (listing the page for flushes), slow if not RAM. */
  private fillTlb(vpage: number, phys: number, bits: number): void {
    if (this.mem.pageKind[phys >>> 12] !== PageKind.Ram) bits |= TLB_SLOW;
    const old = this.tlb[vpage]!;
    if (old === 0 || ((old ^ bits) & TLB_GLOBAL) !== 0) this.listTlbPage(vpage, bits & TLB_GLOBAL);
    this.tlb[vpage] = phys | bits;
  }

  private pageFault(lin: number, present: number, write: boolean, user: boolean): never {
    this.cr[2] = lin;
    return this.raise(Vec.PF, present | (write ? 2 : 0) | (user ? 4 : 0));
  }

  /** Page-table accesses go to physical memory directly (they may sit in RAM only). */
  private physRead32(addr: number): number {
    if ((addr & 3) === 0 && addr + 4 <= this.ram.length && this.mem.pageKind[addr >>> 12] === PageKind.Ram) return this.ram32[addr >>> 2]!;
    return this.mem.read(addr, 4) | 0;
  }
  private physWrite32(addr: number, v: number): void { this.mem.write(addr, 4, v); }

  // ---------------------------------------------------------------- linear memory access

  readLin8(lin: number): number {
    const e = this.tlb[lin >>> 12]!;
    if ((e & this.rMask) === this.rBit) return this.ram[(e & ~0xfff) | (lin & 0xfff)]!;
    return this.readSlow(lin, 1);
  }

  readLin16(lin: number): number {
    const e = this.tlb[lin >>> 12]!;
    if ((e & this.rMask) === this.rBit && (lin & 0xfff) !== 0xfff) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      return this.ram[p]! | (this.ram[p + 1]! << 8);
    }
    return this.readSlow(lin, 2);
  }

  readLin32(lin: number): number {
    const e = this.tlb[lin >>> 12]!;
    if ((e & this.rMask) === this.rBit && (lin & 0xfff) <= 0xffc) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if ((p & 3) === 0) return this.ram32[p >>> 2]!;
      const r = this.ram;
      return r[p]! | (r[p + 1]! << 8) | (r[p + 2]! << 16) | (r[p + 3]! << 24);
    }
    return this.readSlow(lin, 4);
  }

  private readSlow(lin: number, size: 1 | 2 | 4): number {
    if ((lin & 0xfff) + size > 0x1000) {
      // Both pages are translated before the value is assembled, so a #PF leaves nothing half done.
      const first = 0x1000 - (lin & 0xfff);
      const lo = this.readLinN(lin, first);
      const hi = this.readLinN((lin + first) | 0, size - first);
      return (lo | (hi << (first * 8))) | 0;
    }
    const user = this.cpl === 3;
    const phys = this.translate(lin, false, user);
    return this.physAccessRead(phys, size);
  }

  /** Little-endian read of n bytes in ascending address order (so #PF reports the first bad byte). */
  private readLinN(lin: number, n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v |= this.readLin8((lin + i) | 0) << (i * 8);
    return v;
  }

  private physAccessRead(phys: number, size: 1 | 2 | 4): number {
    if (this.mem.pageKind[phys >>> 12] === PageKind.Ram) {
      const r = this.ram;
      if (size === 1) return r[phys]!;
      if (size === 2) return r[phys]! | (r[phys + 1]! << 8);
      return r[phys]! | (r[phys + 1]! << 8) | (r[phys + 2]! << 16) | (r[phys + 3]! << 24);
    }
    const v = this.mem.read(phys, size);
    return size === 4 ? v | 0 : v;
  }

  writeLin8(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12]!;
    if ((e & this.wMask) === this.wBit) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if (this.codePages[p >>> 12]) this.invalidateCode(p, 1);
      this.ram[p] = v;
      return;
    }
    this.writeSlow(lin, 1, v);
  }

  writeLin16(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12]!;
    if ((e & this.wMask) === this.wBit && (lin & 0xfff) !== 0xfff) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if (this.codePages[p >>> 12]) this.invalidateCode(p, 2);
      this.ram[p] = v; this.ram[p + 1] = v >> 8;
      return;
    }
    this.writeSlow(lin, 2, v);
  }

  writeLin32(lin: number, v: number): void {
    const e = this.tlb[lin >>> 12]!;
    if ((e & this.wMask) === this.wBit && (lin & 0xfff) <= 0xffc) {
      const p = (e & ~0xfff) | (lin & 0xfff);
      if (this.codePages[p >>> 12]) this.invalidateCode(p, 4);
      if ((p & 3) === 0) { this.ram32[p >>> 2] = v; return; }
      const r = this.ram;
      r[p] = v; r[p + 1] = v >> 8; r[p + 2] = v >> 16; r[p + 3] = v >> 24;
      return;
    }
    this.writeSlow(lin, 4, v);
  }

  private writeSlow(lin: number, size: 1 | 2 | 4, v: number): void {
    const user = this.cpl === 3;
    if ((lin & 0xfff) + size > 0x1000) {
      // Translate both pages first so a fault on the second leaves memory untouched.
      const first = 0x1000 - (lin & 0xfff);
      const p1 = this.translate(lin, true, user);
      const p2 = this.translate((lin + first) | 0, true, user);
      for (let i = 0; i < size; i++) this.physWrite8(i < first ? p1 + i : p2 + i - first, v >>> (i * 8));
      return;
    }
    const phys = this.translate(lin, true, user);
    this.mem.write(phys, size, v);
  }

  private physWrite8(phys: number, v: number): void { this.mem.write(phys >>> 0, 1, v); }

  /**
   * Physical RAM address of `lin` if the whole 4 KiB page is plain RAM accessible for this access
   * at the current privilege (translating and setting A/D bits as needed), else -1. Faults as a
   * real access would. Used by bulk string operations.
   */
  ramPage(lin: number, write: boolean): number {
    const bit = write ? this.wBit : this.rBit;
    let e = this.tlb[lin >>> 12]!;
    if ((e & (bit | TLB_SLOW)) !== bit) {
      this.translate(lin, write, this.cpl === 3);
      e = this.tlb[lin >>> 12]!;
      if ((e & (bit | TLB_SLOW)) !== bit) return -1;
    }
    return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
  }

  /**
   * Physical RAM address of [lin, lin + len) when it lies in one page that `ramPage` allows, else
   * -1. For a write, decoded code there is dropped first, as every store drops it: the caller then
   * writes `ram` directly (bulk string operations, FXSAVE).
   */
  ramSpan(lin: number, len: number, write: boolean): number {
    if ((lin & 0xfff) + len > 0x1000) return -1;
    const p = this.ramPage(lin, write);
    if (write && p >= 0 && this.codePages[p >>> 12]) this.invalidateCode(p, len);
    return p;
  }

  /** Faults now if any byte of [lin, lin+len) is not writable at the current privilege. */
  probeWrite(lin: number, len: number): void {
    const user = this.cpl === 3;
    for (let p = lin >>> 12, last = ((lin + len - 1) | 0) >>> 12; ; p = (p + 1) & 0xfffff) {
      if ((this.tlb[p]! & this.wBit) === 0) this.translate(p << 12, true, user);
      if (p === last) break;
    }
  }

  // ---------------------------------------------------------------- segmented access

  /** Offset window check for a read of `size` bytes; raises #GP/#SS as the SDM says. */
  segCheckR(seg: number, off: number, size: number): number {
    if (off < this.segRLo[seg]! || off + size - 1 > this.segRHi[seg]!) this.segFault(seg);
    return (this.segBase[seg]! + off) | 0;
  }

  segCheckW(seg: number, off: number, size: number): number {
    if (off < this.segWLo[seg]! || off + size - 1 > this.segWHi[seg]!) this.segFault(seg);
    return (this.segBase[seg]! + off) | 0;
  }

  private segFault(seg: number): never {
    return this.raise(seg === Seg.SS ? Vec.SS : Vec.GP, 0);
  }

  rd8(seg: number, off: number): number { return this.readLin8(this.segCheckR(seg, off >>> 0, 1)); }
  rd16(seg: number, off: number): number { return this.readLin16(this.segCheckR(seg, off >>> 0, 2)); }
  rd32(seg: number, off: number): number { return this.readLin32(this.segCheckR(seg, off >>> 0, 4)); }
  wr8(seg: number, off: number, v: number): void { this.writeLin8(this.segCheckW(seg, off >>> 0, 1), v); }
  wr16(seg: number, off: number, v: number): void { this.writeLin16(this.segCheckW(seg, off >>> 0, 2), v); }
  wr32(seg: number, off: number, v: number): void { this.writeLin32(this.segCheckW(seg, off >>> 0, 4), v); }
  rd(size: number, seg: number, off: number): number {
    return size === 4 ? this.rd32(seg, off) : size === 2 ? this.rd16(seg, off) : this.rd8(seg, off);
  }
  wr(size: number, seg: number, off: number, v: number): void {
    if (size === 4) this.wr32(seg, off, v); else if (size === 2) this.wr16(seg, off, v); else this.wr8(seg, off, v);
  }

  // ---------------------------------------------------------------- stack

  push32(v: number): void {
    if (this.stack32) {
      const sp = (this.regs[Reg.ESP]! - 4) | 0;
      this.wr32(Seg.SS, sp, v);
      this.regs[Reg.ESP] = sp;
    } else {
      const sp = (this.r16[Reg.ESP << 1]! - 4) & 0xffff;
      this.wr32(Seg.SS, sp, v);
      this.r16[Reg.ESP << 1] = sp;
    }
  }

  push16(v: number): void {
    if (this.stack32) {
      const sp = (this.regs[Reg.ESP]! - 2) | 0;
      this.wr16(Seg.SS, sp, v);
      this.regs[Reg.ESP] = sp;
    } else {
      const sp = (this.r16[Reg.ESP << 1]! - 2) & 0xffff;
      this.wr16(Seg.SS, sp, v);
      this.r16[Reg.ESP << 1] = sp;
    }
  }

  push(size: number, v: number): void { if (size === 4) this.push32(v); else this.push16(v); }

  pop32(): number {
    if (this.stack32) {
      const sp = this.regs[Reg.ESP]!;
      const v = this.rd32(Seg.SS, sp);
      this.regs[Reg.ESP] = sp + 4;
      return v;
    }
    const sp = this.r16[Reg.ESP << 1]!;
    const v = this.rd32(Seg.SS, sp);
    this.r16[Reg.ESP << 1] = sp + 4;
    return v;
  }

  pop16(): number {
    if (this.stack32) {
      const sp = this.regs[Reg.ESP]!;
      const v = this.rd16(Seg.SS, sp);
      this.regs[Reg.ESP] = sp + 2;
      return v;
    }
    const sp = this.r16[Reg.ESP << 1]!;
    const v = this.rd16(Seg.SS, sp);
    this.r16[Reg.ESP << 1] = sp + 2;
    return v;
  }

  pop(size: number): number { return size === 4 ? this.pop32() : this.pop16(); }

  /** Reads the stack at ESP+`delta` without popping (for instructions that must not fault halfway). */
  peek(size: number, delta: number): number {
    const sp = this.stack32 ? (this.regs[Reg.ESP]! + delta) | 0 : (this.r16[Reg.ESP << 1]! + delta) & 0xffff;
    return size === 4 ? this.rd32(Seg.SS, sp) : this.rd16(Seg.SS, sp);
  }

  /** ESP moved by `delta` with the current stack size (a 16-bit stack keeps ESP's upper half). */
  spAfter(delta: number): number {
    const esp = this.regs[Reg.ESP]!;
    return this.stack32 ? (esp + delta) | 0 : (esp & ~0xffff) | ((esp + delta) & 0xffff);
  }

  adjustSp(delta: number): void { this.regs[Reg.ESP] = this.spAfter(delta); }

  // ---------------------------------------------------------------- segment caches

  /** Fills a descriptor cache and the derived access windows. `attr` is descriptor bits 40..55. */
  setSegCache(s: number, selector: number, base: number, limit: number, attr: number): void {
    this.sel[s] = selector;
    this.segBase[s] = base | 0;
    this.segLimit[s] = limit >>> 0;
    this.segAttr[s] = attr;
    if (s < 6) this.updateWindows(s);
    if (s === Seg.CS) { this.code32 = (attr & 0x4000) !== 0; this.chainEpoch++; }
    else if (s === Seg.SS) { this.stack32 = (attr & 0x4000) !== 0; }
  }

  /** Real-mode / V86 style load: base = selector * 16, limit and attributes kept (unreal mode works). */
  loadRealSeg(s: number, selector: number): void {
    this.sel[s] = selector;
    this.segBase[s] = selector << 4;
    if (this.flags & VM || !(this.cr[0]! & CR0_PE) && this.segAttr[s] === 0) {
      this.segLimit[s] = 0xffff;
      this.segAttr[s] = s === Seg.CS ? 0x9b : 0x93 | (this.flags & VM ? 0x60 : 0);
    }
    this.updateWindows(s);
    if (s === Seg.CS) { this.code32 = (this.segAttr[s]! & 0x4000) !== 0 && !(this.flags & VM); this.chainEpoch++; }
    else if (s === Seg.SS) this.stack32 = (this.segAttr[s]! & 0x4000) !== 0 && !(this.flags & VM);
  }

  private updateWindows(s: number): void {
    const attr = this.segAttr[s]!;
    const limit = this.segLimit[s]!;
    const pm = (this.cr[0]! & CR0_PE) !== 0 && !(this.flags & VM);
    let lo = 0, hi = limit;
    const type = attr & 0xf, isCode = (attr & 0x18) === 0x18, isData = (attr & 0x18) === 0x10;
    if (isData && (type & 4)) { lo = limit + 1; hi = (attr & 0x4000) ? 0xffffffff : 0xffff; }
    const usable = !pm || ((attr & 0x80) !== 0 && (attr & 0x10) !== 0 && !(s !== Seg.CS && (this.sel[s]! & 0xfffc) === 0));
    const readable = usable && (!pm || !isCode || (type & 2) !== 0);
    const writable = usable && (!pm || (isData && (type & 2) !== 0));
    this.segRLo[s] = readable ? lo : 1; this.segRHi[s] = readable ? hi : 0;
    this.segWLo[s] = writable ? lo : 1; this.segWHi[s] = writable ? hi : 0;
    if (lo > hi) { this.segRLo[s] = 1; this.segRHi[s] = 0; this.segWLo[s] = 1; this.segWHi[s] = 0; }
    this.segGen++;
    const flat = this.segBase[s] === 0 && this.segRLo[s] === 0 && this.segRHi[s] === 0xffffffff && this.segWLo[s] === 0 && this.segWHi[s] === 0xffffffff;
    this.flatSegs = flat ? this.flatSegs | (1 << s) : this.flatSegs & ~(1 << s);
  }

  /** Re-derive access windows and fast-path masks after CR0/VM/CPL changes. */
  updatePrivilege(): void {
    for (let s = 0; s < 6; s++) this.updateWindows(s);
    const user = this.cpl === 3;
    this.rBit = user ? TLB_UR : TLB_SR; this.rMask = this.rBit | TLB_SLOW;
    this.wBit = user ? TLB_UW : TLB_SW; this.wMask = this.wBit | TLB_SLOW;
    this.exitBlock = true;
    this.chainEpoch++;
  }

  get protectedMode(): boolean { return (this.cr[0]! & CR0_PE) !== 0; }
  get v86(): boolean { return (this.flags & VM) !== 0; }

  // ---------------------------------------------------------------- control registers

  setCr(n: number, v: number): void {
    const old = this.cr[n]!;
    switch (n) {
      case 0: {
        v |= CR0_ET;
        if ((v & CR0_PG) && !(v & CR0_PE)) this.gp(0);
        if ((v & CR0_NW) && !(v & CR0_CD)) this.gp(0);
        this.cr[0] = v;
        if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) { this.flushTlb(true); this.updatePrivilege(); }
        break;
      }
      case 2: this.cr[2] = v; break;
      case 3: this.switchAddressSpace(v); break;
      case 4: {
        if (v & ~(CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_PCE | CR4_OSFXSR | 0x400)) this.gp(0);
        this.cr[4] = v;
        if ((old ^ v) & (CR4_PSE | CR4_PGE | CR4_PAE)) this.flushTlb(true);
        break;
      }
      default: this.ud();
    }
    this.exitBlock = true;
  }

  // ---------------------------------------------------------------- code cache

  invalidateCode(phys: number, len: number): void {
    const first = phys >>> 12, last = (phys + len - 1) >>> 12;
    for (let p = first; p <= last; p++) {
      if (!this.codePages[p]) continue;
      this.codePages[p] = 0;
      const list = this.pageBlocks.get(p);
      if (!list) continue;
      this.pageBlocks.delete(p);
      for (const b of list) {
        if (!b.valid) continue;
        b.valid = false;
        this.blocks.drop(Math.floor(b.key / 4096));
        this.codeDirty = true;
        // Compiled regions holding this block's code must not be entered again; their other blocks
        // (on other pages too) count their runs afresh, so they are compiled again once hot.
        if (b.inRegions !== null) {
          for (const r of b.inRegions) {
            r.kill?.();
            for (const m of r.blocks) if (m.region === r) { m.region = null; m.hits = 0; }
          }
        }
      }
    }
    if (this.curBlock && !this.curBlock.valid) this.exitBlock = true;
  }

  /** The decoded block at a page offset of a (physical page, decode mode) slot. */
  blockAt(slot: number, off: number): Block | undefined { return this.blocks.get(slot, off); }

  /**
   * Whether a freshly decoded block starts inside a block decoded before (code already known,
   * entered at another instruction: an interrupt returning into a long straight-line function).
   * Not new code for the compile threshold (`decoded`): with the realtime clock the guest takes
   * ~30 times the interrupts per instruction, and the returns into the kernel's unrolled blake2s
   * and siphash decoded ~23 k instructions per 2,000 pings, which kept the threshold at 8,000.
   */
  private reentered(b: Block): boolean {
    const list = this.pageBlocks.get(b.pages[0]!);
    if (list === undefined) return false;
    const slot = Math.floor(b.key / 4096), off = b.key & 0xfff;
    for (const o of list) {
      if (Math.floor(o.key / 4096) !== slot) continue;
      const start = o.key & 0xfff;
      if (off > start && off < start + o.insns[o.insns.length - 1]!.end) return true;
    }
    return false;
  }

  /** Registers a freshly decoded block under every physical page it covers. */
  addBlock(b: Block): void {
    // Counted only while the epoch can still turn out steady: the scan in `reentered` grows with the
    // blocks of the page (3% of a boot's time when it ran on every decode).
    if (this.adaptive && this.decoded < STEADY_DECODED && !this.reentered(b)) this.decoded += b.insns.length;
    this.blocks.add(Math.floor(b.key / 4096), b.key & 0xfff, b);
    for (const p of b.pages) {
      if (this.mem.pageKind[p] !== PageKind.Ram) continue;
      this.codePages[p] = 1;
      let list = this.pageBlocks.get(p);
      if (!list) { list = []; this.pageBlocks.set(p, list); }
      list.push(b);
    }
  }

  private fetchBlock(): Block {
    const eip = this.eip;
    if ((eip >>> 0) > this.segLimit[Seg.CS]!) this.gp(0);
    const lin = (this.segBase[Seg.CS]! + eip) | 0;
    const e = this.tlb[lin >>> 12]!;
    const phys = (e & this.rBit) ? ((e & ~0xfff) | (lin & 0xfff)) >>> 0 : this.translate(lin, false, this.cpl === 3);
    // key = (page * 4 + mode) << 12 | offset, so the table slot is key >>> 12.
    const slot = (phys >>> 12) * 4 + this.decodeMode();
    const b = this.blocks.get(slot, phys & 0xfff);
    if (b !== undefined) return b;
    return decodeBlock(this, lin, phys, slot * 4096 + (phys & 0xfff));
  }

  // ---------------------------------------------------------------- execution

  requestInterruptCheck(): void { this.intrCheck = true; this.exitBlock = true; }

  nmi(): void { this.nmiPending = true; this.intrCheck = true; this.exitBlock = true; }

  /** Retired-instruction count at which the current `run` ends (lowered by `stopAt`). */
  private runLimit = 0;

  /**
   * Executes up to `max` instructions, exactly: a block is cut short where the budget ends, so a
   * timer deadline falls on the instruction it names whatever the budget.
   */
  run(max: number): number {
    const start = this.instructions;
    if (this.adaptive && start >= this.epochEnd) {
      this.compileThreshold = this.decoded < STEADY_DECODED ? STEADY_BLOCK : this.coldThreshold;
      this.decoded = 0; this.epochEnd = start + STEADY_EPOCH;
    }
    this.runLimit = start + max;
    while (this.instructions < this.runLimit && !this.shutdown) {
      if ((this.intrCheck || this.halted) && !this.shadow) {
        if (this.checkInterrupts()) continue;
      }
      if (this.halted) break;
      this.step();
    }
    return this.instructions - start;
  }

  /** Ends the current `run` once `n` instructions have retired in all (a timer armed mid-run). */
  stopAt(n: number): void {
    if (n < this.runLimit) { this.runLimit = n; this.exitBlock = true; }
  }

  private checkInterrupts(): boolean {
    this.intrCheck = false;
    if (this.nmiPending && !this.nmiBlocked) {
      this.nmiPending = false; this.nmiBlocked = true; this.halted = false;
      this.interruptSafely(Vec.NMI, false);
      return true;
    }
    if (this.nmiPending) this.intrCheck = true;
    const ic = this.interrupts;
    if (ic !== null && (this.flags & IF) && ic.hasInterrupt()) {
      const vector = ic.acknowledge();
      this.halted = false;
      this.interruptSafely(vector, false);
      this.intrCheck = true;
      return true;
    }
    return false;
  }

  /** Delivers an external event, turning faults during delivery into #DF / shutdown. */
  private interruptSafely(vector: number, software: boolean): void {
    try {
      deliverInterrupt(this, vector, software, false, 0);
    } catch (e) {
      if (e !== FAULT) throw e;
      this.handleFault();
    }
  }

  /** Where the interpreter runs the current block from (base EIP, its mask, first index): a fault's EIP. */
  private blockBase = 0;
  private blockMask = 0;
  private blockFrom = 0;

  /**
   * One chain of blocks (runBlocks). Every fault raised in it, at an instruction fetch or in an
   * interpreted instruction, is delivered here: the chain's loop holds no exception handler, so
   * the engine's optimized code for it is not thrown away the first time a guest fault takes a
   * path that had not run before it was optimized.
   */
  private step(): void {
    try {
      this.runBlocks();
    } catch (e) {
      if (e !== FAULT) throw e;
      const b = this.curBlock;
      if (b !== null) {
        // In an interpreted instruction: those before it retired, and EIP is back at its start.
        this.instructions += this.faultIndex;
        this.eip = (this.blockBase + b.insns[this.blockFrom + this.faultIndex]!.start) & this.blockMask;
        this.curBlock = null;
      }
      this.handleFault();
    }
    // A block reached the compile threshold: the chain ended after it, and its region is compiled
    // here rather than in the chain loop, where the engine would throw away the loop's optimized
    // code at the first compile (a call it had never seen made).
    const hot = this.hotBlock;
    if (hot !== null) { this.hotBlock = null; compileRegion(this, hot, this.hotBase); }
  }

  /** The block that just reached the compile threshold (see step), with its base EIP. */
  private hotBlock: Block | null = null;
  private hotBase = 0;

  /**
   * Runs blocks back to back until one ends the chain (exitBlock) or the budget is used up.
   * Successor blocks are remembered per block so a loop does not look its target up every time
   * (see chainNext). `curBlock` is the block being interpreted, null everywhere else.
   */
  private runBlocks(): void {
    let block = this.fetchBlock();
    // Whether the instruction traps is decided by TF as it was when the instruction began (a POPF
    // or IRET clearing TF still traps once). An interrupt shadow covers just this one instruction.
    const trap = (this.flags & TF) !== 0;
    const single = this.shadow || trap;
    this.shadow = false;
    // After a side exit of compiled code the interpreter runs the rest of that block, from `from`.
    let from = 0, resumed = false;
    for (;;) {
      const insns = block.insns;
      const mask = this.code32 ? -1 : 0xffff;
      this.exitBlock = false;
      const left = this.runLimit - this.instructions;
      const region = block.region;
      if (!resumed && region !== null && !single && insns.length <= left) {
        // Compiled code runs whole blocks while they fit in the budget and writes EIP, the count
        // and the state back itself.
        this.codeDirty = false;
        const n = region.fn(this, region.calls < REGION_WARMUP && ++region.calls ? Math.min(left, Math.max(WARMUP_BUDGET, insns.length)) : left, region);
        if (n === -2) { this.handleFault(); return; }
        if (n >= 0) {
          const resume = this.resumeBlock;
          if (resume !== null) {
            // A side exit: the interpreter runs the rest of that block.
            this.resumeBlock = null;
            block = resume; from = this.resumeIndex; resumed = true;
            continue;
          }
          if (this.exitBlock || this.instructions >= this.runLimit) return;
          block = this.chainNext(block);
          continue;
        }
        // The region was specialized for a state that does not hold now: recompile it later. Code
        // mapped at a new address in each process (the vDSO) would compile a region per process:
        // each such miss doubles the runs it waits, up to 64 times the threshold.
        block.region = null;
        block.hits = n === -3 ? -(this.compileThreshold << Math.min(block.aliasMisses++, 6)) : 0;
      }
      // A block's first instruction is at offset 0 (`start` is read only after a side exit).
      const base = (from === 0 ? this.eip : this.eip - insns[from]!.start) & mask;
      const end = single ? from + 1 : Math.min(insns.length, from + left);
      this.curBlock = block; this.blockBase = base; this.blockMask = mask; this.blockFrom = from;
      let i = from;
      for (; i < end; i++) {
        const ins = insns[i]!;
        this.faultIndex = i - from;
        this.eip = (base + ins.end) & mask;
        ins.fn(this, ins);
        if (this.exitBlock) { i++; break; }
      }
      this.curBlock = null;
      this.instructions += i - from;
      let hot = false;
      if (!resumed) {
        const h = ++block.hits;
        // Blocks past the steady threshold when the epoch turned steady still compile at the other.
        if (h === this.compileThreshold || h === this.coldThreshold) { this.hotBlock = block; this.hotBase = base; hot = true; }
      }
      from = 0; resumed = false;
      if (single) { this.finishSingleStep(trap); return; }
      if (this.exitBlock || this.instructions >= this.runLimit || hot) return;
      block = this.chainNext(block);
    }
  }

  /**
   * The block at EIP after `block`: its two most recent successors first, checked against the TLB
   * entry and decode mode they were found with.
   */
  private chainNext(block: Block): Block {
    const eip = this.eip;
    const lin = (this.segBase[Seg.CS]! + eip) | 0;
    const e = this.tlb[lin >>> 12]!;
    let next = block.s1;
    // A zero entry (flushed) fails the permission test, so it never matches a stale link.
    const ok = (e & this.rBit) !== 0 && (eip >>> 0) <= this.segLimit[Seg.CS]!;
    const mode = this.decodeMode();
    if (!(ok && next !== null && block.s1Lin === lin && block.s1Tlb === e && next.valid && next.mode === mode)) {
      next = block.s2;
      if (!(ok && next !== null && block.s2Lin === lin && block.s2Tlb === e && next.valid && next.mode === mode)) {
        next = this.fetchBlock();
        block.s2 = block.s1; block.s2Lin = block.s1Lin; block.s2Tlb = block.s1Tlb;
        block.s1 = next; block.s1Lin = lin; block.s1Tlb = this.tlb[lin >>> 12]!;
      }
    }
    return next;
  }

  /** The decode mode of the code at CS:EIP (the low bits of a block table slot). */
  private decodeMode(): number { return (this.code32 ? 1 : 0) + (this.protectedMode && !this.v86 ? 2 : 0); }

  private finishSingleStep(trap: boolean): void {
    this.intrCheck = true;
    // MOV SS / POP SS (a new shadow) hold the trap until after the next instruction.
    if (trap && !this.shadow && !this.halted) {
      this.dr[6] |= 0x4000;
      this.interruptSafely(Vec.DB, false);
    }
  }

  /** Turns a raised fault into an exception delivery (with #DF and triple-fault escalation). */
  handleFault(): void {
    const vector = this.faultVector, code = this.faultCode, hasCode = this.faultHasCode;
    if (vector === Vec.PF || vector < 32 && vector !== Vec.DB && vector !== Vec.BP && vector !== Vec.OF) this.flags &= ~RF;
    const prev = this.firstFault;
    if (prev >= 0) {
      if (prev === Vec.DF) { this.tripleFault(); return; }
      const contributory = (v: number) => v === Vec.DE || (v >= Vec.TS && v <= Vec.GP);
      if ((contributory(prev) && contributory(vector)) || (prev === Vec.PF && (contributory(vector) || vector === Vec.PF))) {
        this.firstFault = Vec.DF;
        this.deliverFault(Vec.DF, true, 0);
        return;
      }
    }
    this.firstFault = vector;
    this.deliverFault(vector, hasCode, code);
  }

  private deliverFault(vector: number, hasCode: boolean, code: number): void {
    try {
      deliverInterrupt(this, vector, false, hasCode, code);
    } catch (e) {
      if (e !== FAULT) throw e;
      this.handleFault();
    }
    this.firstFault = -1;
  }

  tripleFault(): void {
    this.shutdown = true;
    this.halted = true;
    this.firstFault = -1;
    this.onShutdown('triple fault');
  }

  /** Ends the current block and makes the next instruction run with interrupts inhibited. */
  setShadow(): void { this.shadow = true; this.exitBlock = true; }

  /**
   * Instructions retired so far, those already done in the running block included, so guest time
   * (and the TSC) moves between two instructions of one block.
   */
  retired(): number { return this.curBlock !== null ? this.instructions + this.faultIndex : this.instructions; }

  /**
   * The TSC advances with every retired instruction: a host clock coarser than an instruction
   * (realtime mode, browsers) never hands two reads the same value.
   */
  readTsc(): number {
    const at = this.retired();
    const t = Math.max(0, this.clock.tsc() + this.tscOffset, this.tscLast + (at - this.tscLastAt));
    this.tscLast = t; this.tscLastAt = at;
    return t;
  }

  /**
   * CPUID: a GenuineIntel family-6 part that advertises exactly what the core implements:
   * FPU, PSE, TSC, MSR, CX8, SEP, MTRR, PGE, CMOV, PAT, FXSR, RDRAND (+ APIC when one is attached).
   */
  cpuid(leaf: number, sub: number): [number, number, number, number] {
    const hooked = this.cpuidHook?.(leaf, sub);
    if (hooked) return hooked;
    switch (leaf) {
      case 0: return [1, 0x756e6547, 0x6c65746e, 0x49656e69]; // "GenuineIntel"
      case 1: {
        const edx = 1 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 8 | (this.cpuidApic ? 1 << 9 : 0) | 1 << 11 | 1 << 12 | 1 << 13 | 1 << 15 | 1 << 16 | 1 << 24;
        const ecx = (this.cpuidTscDeadline ? 1 << 24 : 0) | 1 << 30 | (this.cpuidHypervisor ? 1 << 31 : 0);
        return [0x0665, 0, ecx, edx];
      }
      case 0x80000000: return [0x80000000, 0, 0, 0];
      default: return [0, 0, 0, 0];
    }
  }

  /** HLT: stop until an interrupt (the caller's loop skips time or sleeps). */
  halt(): void { this.halted = true; this.exitBlock = true; this.intrCheck = true; }

  /** EFLAGS.IF: maskable interrupts are accepted. */
  get interruptFlag(): boolean { return (this.flags & IF) !== 0; }

  /** Is a maskable or non-maskable interrupt ready to wake a halted CPU? */
  get wakeable(): boolean {
    if (this.nmiPending && !this.nmiBlocked) return true;
    return (this.flags & IF) !== 0 && this.interrupts !== null && this.interrupts.hasInterrupt();
  }
}

