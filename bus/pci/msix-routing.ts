/**
 * The MSI shim (QEMU's kvm_irqchip_update_msi_route + irqfd per vector): MSI-X vector v of a
 * function owns GSI `firstGsi + v`. While the vector can deliver (MSI-X enabled, function and
 * vector unmasked, Bus Master Enable on, a 32-bit address) that GSI's route is the table entry's
 * address/data; otherwise it has no route. Guest writes to the control word, the command register
 * or a table entry re-route it; disable and reset leave nothing routed.
 *
 * Each vector's channel is its irqfd: a signal raises the vector. Masked vectors collect the
 * signal in the PBA pending bit and deliver on unmask (PciFunction keeps the PBA); a signal while
 * MSI-X is disabled is lost, as on a GSI without a route.
 */
import type { EventChannel } from '../../channels/event-channel.js';
import type { Injector } from '../../channels/injector.js';
import { MAX_GSI, type GsiRouter } from '../../irqchip/router.js';
import { IOAPIC_PINS } from '../../irqchip/ioapic.js';
import type { MsixDelivery, PciFunction } from './function.js';
import { GuestLog } from './guest-log.js';

export interface MsixRoutingOptions {
  fn: PciFunction;
  router: GsiRouter;
  injector: Injector;
  /** GSI of vector 0 (24 or above: below are the IOAPIC's pins); vector v uses firstGsi + v. */
  firstGsi: number;
  /** Per vector (may be shorter than the table): the device signals channels[v] to raise vector v. */
  channels?: readonly EventChannel[];
  log?: (line: string) => void;
}

export class MsixRouting implements MsixDelivery {
  readonly firstGsi: number;
  private readonly fn: PciFunction;
  private readonly router: GsiRouter;
  /** Route installed per vector: on flag, address, data. */
  private readonly on: Uint8Array;
  private readonly address: Uint32Array;
  private readonly data: Uint32Array;
  private readonly detach: (() => void)[] = [];
  private readonly log: GuestLog;

  constructor(o: MsixRoutingOptions) {
    const n = o.fn.msixVectors;
    if (n === 0) throw new Error('the function has no MSI-X capability');
    if (!Number.isInteger(o.firstGsi) || o.firstGsi < IOAPIC_PINS || o.firstGsi + n > MAX_GSI) throw new RangeError(`MSI-X GSIs ${o.firstGsi}+${n} must lie in ${IOAPIC_PINS}–${MAX_GSI - 1}`);
    if ((o.channels?.length ?? 0) > n) throw new RangeError(`${o.channels!.length} channels for ${n} MSI-X vectors`);
    for (let v = 0; v < n; v++) if (o.router.getRoute(o.firstGsi + v) !== null) throw new Error(`GSI ${o.firstGsi + v} is already routed`);
    this.fn = o.fn;
    this.router = o.router;
    this.firstGsi = o.firstGsi;
    this.on = new Uint8Array(n);
    this.address = new Uint32Array(n);
    this.data = new Uint32Array(n);
    this.log = new GuestLog('msix', o.log);
    o.fn.attachMsixDelivery(this);
    o.channels?.forEach((ch, v) => this.detach.push(o.injector.attach(ch, () => { this.fn.msixNotify(v); })));
  }

  gsi(vector: number): number { return this.firstGsi + vector; }

  update(vector: number | null): void {
    if (vector === null) { for (let v = 0; v < this.on.length; v++) this.updateOne(v); }
    else this.updateOne(vector);
  }

  send(vector: number): void { this.router.pulse(this.firstGsi + vector); }

  /** Unbind the channels and leave no route behind. */
  close(): void {
    for (const d of this.detach) d();
    this.detach.length = 0;
    this.fn.attachMsixDelivery(null);
    for (let v = 0; v < this.on.length; v++) this.setRoute(v, false, 0, 0);
  }

  private updateOne(v: number): void {
    const f = this.fn;
    const e = f.msixVector(v);
    let ok = f.msixEnabled && !f.msixFunctionMasked && !e.masked && f.busMaster;
    if (ok && e.addressHi !== 0) {
      this.log.warn(`${f.device.toString(16).padStart(2, '0')}.${f.fn} vector ${v}: address 0x${e.addressHi.toString(16)}:${e.addressLo.toString(16).padStart(8, '0')} is above 4 GiB; not routed`);
      ok = false;
    }
    this.setRoute(v, ok, e.addressLo, e.data);
  }

  private setRoute(v: number, on: boolean, address: number, data: number): void {
    if (!on && !this.on[v]) return;
    if (on && this.on[v] && this.address[v] === address && this.data[v] === data) return;
    this.on[v] = on ? 1 : 0;
    this.address[v] = address;
    this.data[v] = data;
    this.router.setRoute(this.firstGsi + v, on ? { kind: 'msi', address, data } : null);
  }
}
