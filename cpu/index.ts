/** Public surface of the CPU core. */
export { CPU, Reg, Seg, FAULT, CR0_PE, CR0_PG, CR0_WP, CR0_TS, CR0_EM, CR0_NE, CR4_PSE, CR4_PGE } from './cpu.js';
export type { InterruptController, BootStateLike } from './cpu.js';
export { Vec } from './protect.js';
export { implementedOpcodes } from './decode.js';
export type { MsrHandler } from './msr.js';
export { MSR_APIC_BASE, MSR_TSC_DEADLINE } from './msr.js';
export { codegenStats, HOT_BLOCK } from './codegen.js';
