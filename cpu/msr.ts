/** Model-specific registers that the core itself owns; devices (LAPIC, kvmclock) add handlers. */

export interface MsrHandler {
  read(): number | bigint;
  write(v: bigint): boolean;
}

export const MSR_TSC = 0x10, MSR_APIC_BASE = 0x1b, MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;
export const MSR_TSC_DEADLINE = 0x6e0;

/** Writable MSRs with plain storage and their reset values. */
const STORED: [number, bigint][] = [
  [0x17, 0n],                       // IA32_PLATFORM_ID
  [0x8b, 0n],                       // IA32_BIOS_SIGN_ID (microcode revision)
  [0xfe, 0x508n],                   // IA32_MTRRCAP: 8 variable ranges, fixed ranges, WC
  [MSR_SYSENTER_CS, 0n], [MSR_SYSENTER_ESP, 0n], [MSR_SYSENTER_EIP, 0n],
  [0x179, 0n],                      // IA32_MCG_CAP: no banks
  [0x17a, 0n],                      // IA32_MCG_STATUS
  [0x1a0, 0x1n],                    // IA32_MISC_ENABLE: fast strings
  [0x277, 0x0007040600070406n],     // IA32_PAT
  [0x2ff, 0n],                      // IA32_MTRR_DEF_TYPE
  [0x250, 0n], [0x258, 0n], [0x259, 0n],
  ...Array.from({ length: 8 }, (_, i) => [0x268 + i, 0n] as [number, bigint]),
  ...Array.from({ length: 16 }, (_, i) => [0x200 + i, 0n] as [number, bigint]),
];

export class MsrState {
  private readonly values = new Map<number, bigint>();
  /** Extra MSRs provided by the platform (APIC base, TSC deadline, kvmclock...). */
  readonly handlers = new Map<number, MsrHandler>();
  /**
   * The low halves of IA32_SYSENTER_CS, _ESP and _EIP, which SYSENTER and SYSEXIT read at every
   * system call: a map look-up and two BigInt conversions each took ~1% of a warm gzip run.
   */
  readonly sysenter = new Int32Array(3);

  reset(): void {
    this.values.clear();
    for (const [k, v] of STORED) this.values.set(k, v);
    this.sysenter.fill(0);
  }

  /** Returns undefined for an MSR that does not exist (the caller raises #GP). */
  read(index: number): bigint | undefined {
    const h = this.handlers.get(index);
    if (h) return BigInt.asUintN(64, BigInt(h.read()));
    return this.values.get(index);
  }

  /** Returns false when the MSR does not exist or refuses the value (#GP). */
  write(index: number, v: bigint): boolean {
    const h = this.handlers.get(index);
    if (h) return h.write(v);
    if (!this.values.has(index)) return false;
    if (index === 0xfe) return false; // read-only
    this.values.set(index, v);
    if (index >= MSR_SYSENTER_CS && index <= MSR_SYSENTER_EIP) this.sysenter[index - MSR_SYSENTER_CS] = Number(BigInt.asIntN(32, v));
    return true;
  }
}
