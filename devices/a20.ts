/**
 * The A20 gate: address line 20 is enabled while the keyboard controller's output port bit 1 or
 * system control port A (0x92) bit 1 asks for it, as chipsets OR the two.
 */
export type A20Source = 'kbc' | 'port92';

export class A20Gate {
  private kbc = true; // the keyboard controller's output port powers up with A20 enabled, as in QEMU
  private port92 = false;

  constructor(private readonly onChange: (enabled: boolean) => void = () => {}) {}

  get enabled(): boolean { return this.kbc || this.port92; }

  set(source: A20Source, on: boolean): void {
    const before = this.enabled;
    if (source === 'kbc') this.kbc = on; else this.port92 = on;
    if (this.enabled !== before) this.onChange(this.enabled);
  }
}
