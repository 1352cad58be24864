/**
 * irqfd and EOI notification (KVM_IRQFD, with and without KVM_IRQFD_FLAG_RESAMPLE):
 *
 * - edge: a signal pulses the GSI; the GSI routing table says where that goes (pins or MSI).
 * - resample (level): a signal asserts the line; the guest's EOI of that GSI (8259 EOI of its IRQ
 *   or the IOAPIC's EOI broadcast for its pin) de-asserts it and signals `resample`, so the device
 *   re-checks its state and signals again if it still needs service.
 * - EoiNotifier: an EOI of the GSI only signals a channel.
 */
import type { GsiRouter } from '../irqchip/router.js';
import type { EventChannel } from './event-channel.js';
import type { Injector } from './injector.js';

export interface IrqfdOptions {
  router: GsiRouter;
  gsi: number;
  /** The device signals this. */
  channel: EventChannel;
  injector: Injector;
  /** Level mode: signalled after the guest's EOI has de-asserted the line. */
  resample?: EventChannel;
  /**
   * What drives the line (default: `router.setLevel(gsi, level)`). A PCI function passes its
   * INTx# output so that Interrupt Disable, MSI-X enable and the status bit apply.
   */
  line?: (level: boolean) => void;
}

export class Irqfd {
  readonly gsi: number;
  /** Level mode: the line is asserted and awaits the guest's EOI. */
  private asserted = false;
  private readonly line: (level: boolean) => void;
  private readonly detach: () => void;
  private readonly unlisten: (() => void) | null = null;

  constructor(o: IrqfdOptions) {
    const { router, gsi, resample } = o;
    router.getRoute(gsi); // validates the GSI before anything is attached
    this.gsi = gsi;
    this.line = o.line ?? ((level: boolean) => router.setLevel(gsi, level));
    if (!resample) {
      this.detach = o.injector.attach(o.channel, () => router.pulse(gsi));
      return;
    }
    this.unlisten = router.addEoiListener(gsi, () => {
      if (!this.asserted) return;
      this.asserted = false;
      this.line(false);
      resample.signal();
    });
    this.detach = o.injector.attach(o.channel, () => {
      this.asserted = true;
      this.line(true);
    });
  }

  /** Unbind (KVM_IRQFD_FLAG_DEASSIGN); a line this irqfd holds asserted is released. */
  close(): void {
    this.detach();
    this.unlisten?.();
    if (this.asserted) { this.asserted = false; this.line(false); }
  }
}

/** Signal `channel` on every EOI of `gsi` (KVM's EOI notifier without an irqfd). */
export class EoiNotifier {
  private readonly unlisten: () => void;
  constructor(router: GsiRouter, gsi: number, channel: EventChannel) {
    this.unlisten = router.addEoiListener(gsi, () => channel.signal());
  }
  close(): void { this.unlisten(); }
}
