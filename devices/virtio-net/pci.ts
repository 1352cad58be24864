/**
 * virtio-net's PCI side (virtio 1.2, 4.1: the modern transport, 1AF4:1041, class 02/00/00): the
 * control plane that runs on the CPU thread. The guest's config cycles and register accesses land
 * here; the queues themselves are the data path's (data-path.ts), which this side reaches only
 * through the control block and channels, as QEMU reaches vhost-net:
 *
 *   BAR1  MSI-X table (0x000) and PBA (0x800), 3 vectors: config + one per queue.
 *   BAR4  common cfg 0x0000, ISR 0x1000, device cfg 0x2000, notify 0x3000 (4 bytes per queue).
 *         A notify write is an ioeventfd on the queue's kick channel (re-registered when the
 *         guest moves the BAR); the write never reaches this code.
 *   Vendor capability (cfg_type 9, vendor 0x7486): one hypercall number per queue whose VMCALL
 *   signals the same kick channel (only with hypercall notify).
 *
 * Interrupts go KVM's way, with this side only re-plumbing them on the guest's config writes:
 * - MSI-X: vector v has an irqfd channel feeding GSI msixGsi + v, whose route the MSI shim
 *   (MsixRouting) keeps equal to the vector's table entry (none while disabled, masked or
 *   without Bus Master; a signal on a masked vector sets its PBA bit and is sent on unmask).
 * - INTx: a resampling irqfd drives INTA#; after the guest's EOI the line drops and is raised
 *   again while the ISR (in the control block) is non-zero. Reading the ISR clears it.
 * Which irqfd a queue's used-buffer notification signals is written to the control block
 * (Q_CALL, vhost's VHOST_SET_VRING_CALL): its vector's with MSI-X on (VIRTIO_MSI_NO_VECTOR: none),
 * the INTx one with MSI-X off. The data path signals it directly; nothing here relays it.
 */
import type { AccessSize } from '../../bus/io.js';
import type { PhysicalMemory } from '../../bus/memory.js';
import { GuestLog, type LogSink } from '../../bus/pci/guest-log.js';
import { PciFunction } from '../../bus/pci/function.js';
import { MsixRouting } from '../../bus/pci/msix-routing.js';
import type { GsiRouter } from '../../irqchip/router.js';
import { IOAPIC_PINS } from '../../irqchip/ioapic.js';
import { LocalEventChannel } from '../../channels/event-channel.js';
import type { Injector } from '../../channels/injector.js';
import { Irqfd } from '../../channels/irqfd.js';
import { HypercallChannel } from '../../channels/hypercall.js';
import type { KvmParavirt } from '../kvm-paravirt.js';
import { CALL, CB, ISR_CONFIG } from './control-block.js';
import type { DataPathChannels } from './data-path.js';
import {
  DEVICE_FEATURES_HI, DEVICE_FEATURES_LO, has, NUM_QUEUES, STATUS_DRIVER_OK, STATUS_FEATURES_OK, STATUS_NEEDS_RESET,
  VIRTIO_F_VERSION_1, VIRTIO_MSI_NO_VECTOR, VIRTIO_NET_S_LINK_UP,
} from './spec.js';
import { QUEUE_MAX_SIZE, ringLayoutProblem } from './virtqueue.js';

export const VIRTIO_VENDOR = 0x1af4, VIRTIO_NET_DEVICE = 0x1041;
export const VIRTIO_PCI_CAP = { COMMON: 1, NOTIFY: 2, ISR: 3, DEVICE: 4, VENDOR: 9 } as const;
/** The vendor capability of contract.md: "ts86" hypercall notify. */
export const TS86_CAP_VENDOR_ID = 0x7486;
export const MSIX_BAR = 1, REGS_BAR = 4;
export const REGS = { COMMON: 0x0000, ISR: 0x1000, DEVICE: 0x2000, NOTIFY: 0x3000, SIZE: 0x4000 } as const;
export const NOTIFY_OFF_MULTIPLIER = 4;
/** Config + one per queue. */
export const MSIX_VECTORS = 1 + NUM_QUEUES;
const COMMON_CFG_SIZE = 0x38;
const DEVICE_CFG_SIZE = 12;

export interface VirtioNetPciOptions {
  mem: PhysicalMemory;
  router: GsiRouter;
  injector: Injector;
  /** The GSI its INTA# reaches (from the MP table's routing of its slot). */
  intxGsi: number;
  /** GSI of MSI-X vector 0; vector v uses msixGsi + v (default: the first past the IOAPIC's pins). */
  msixGsi?: number;
  /** The same channels the data path got. */
  channels: DataPathChannels;
  /** The control block the data path reads. */
  block: Int32Array;
  mac: Uint8Array;
  mtu?: number;
  /** Kick queues by VMCALL too, advertised in the vendor capability. */
  hypercalls?: KvmParavirt;
  log?: LogSink;
}

interface QueueRegs { size: number; vector: number; enable: number; desc: number; driver: number; device: number; hi: number }

/**
 * Host-side counts (the data path keeps its own in the control block): MSI-X messages per vector
 * (sent or held in the PBA), INTx assertions (re-assertions after an EOI included), config interrupts.
 */
export interface TransportStats { msix: number[]; intx: number; configInterrupts: number }

export class VirtioNetPci extends PciFunction {
  private readonly o: VirtioNetPciOptions;
  private readonly log: GuestLog;
  private readonly block: Int32Array;
  private status = 0;
  private featureSelect = 0;
  private driverFeatureSelect = 0;
  private driverFeatures = [0, 0];
  private msixConfig = VIRTIO_MSI_NO_VECTOR;
  private queueSelect = 0;
  private readonly queues: QueueRegs[] = [];
  private generation = 0;
  private linkUp = true;
  /** SEQ value a reset waits for: device_status reads its old value until the data path acks. */
  private resetSeq = -1;
  private statusBeforeReset = 0;
  private readonly resample = new LocalEventChannel();
  private readonly notifyRemovers: (() => void)[] = [];
  readonly hypercallChannels: HypercallChannel[] = [];
  readonly stats: TransportStats = { msix: new Array<number>(MSIX_VECTORS).fill(0), intx: 0, configInterrupts: 0 };

  constructor(o: VirtioNetPciOptions) {
    super({ vendorId: VIRTIO_VENDOR, deviceId: VIRTIO_NET_DEVICE, classCode: 0x020000, revision: 1, subsystemId: 0x1100, interruptPin: 1 });
    if (o.mac.length !== 6) throw new RangeError('a MAC address has 6 bytes');
    this.o = o;
    this.block = o.block;
    this.log = new GuestLog('virtio-net-pci', o.log);
    for (let q = 0; q < NUM_QUEUES; q++) this.queues.push(this.freshQueue());

    this.defineBar(MSIX_BAR, { kind: 'mem', size: 0x1000 });
    this.defineBar(REGS_BAR, { kind: 'mem', size: REGS.SIZE, handler: { read: (off, size) => this.regsRead(off, size), write: (off, size, v) => this.regsWrite(off, size, v) } });
    this.addVirtioCap(VIRTIO_PCI_CAP.COMMON, REGS.COMMON, COMMON_CFG_SIZE);
    this.addVirtioCap(VIRTIO_PCI_CAP.NOTIFY, REGS.NOTIFY, NUM_QUEUES * NOTIFY_OFF_MULTIPLIER, NOTIFY_OFF_MULTIPLIER);
    this.addVirtioCap(VIRTIO_PCI_CAP.ISR, REGS.ISR, 1);
    this.addVirtioCap(VIRTIO_PCI_CAP.DEVICE, REGS.DEVICE, DEVICE_CFG_SIZE);
    this.addMsix({ vectors: MSIX_VECTORS, bar: MSIX_BAR, tableOffset: 0, pbaOffset: 0x800 });
    if (o.hypercalls) {
      const payload = new Uint8Array(5 + 4 * NUM_QUEUES);
      const d = new DataView(payload.buffer);
      payload[0] = VIRTIO_PCI_CAP.VENDOR;
      d.setUint16(1, TS86_CAP_VENDOR_ID, true);
      payload[3] = 1; // version
      payload[4] = NUM_QUEUES;
      for (let q = 0; q < NUM_QUEUES; q++) {
        const hc = new HypercallChannel(o.hypercalls, o.channels.kick[q]!, `virtio-net queue ${q}`);
        this.hypercallChannels.push(hc);
        d.setUint32(5 + 4 * q, hc.nr, true);
      }
      this.addVendorCapability(payload);
    }

    if (o.channels.vectors.length !== MSIX_VECTORS) throw new RangeError(`virtio-net has ${MSIX_VECTORS} MSI-X vectors, not ${o.channels.vectors.length}`);
    // The MSI shim: vector v's channel is its irqfd; its GSI's route mirrors the table entry.
    new MsixRouting({ fn: this, router: o.router, injector: o.injector, firstGsi: o.msixGsi ?? IOAPIC_PINS, channels: o.channels.vectors, log: o.log });
    // INTx: a resampling irqfd drives INTA# through the function (Interrupt Disable and MSI-X
    // enable mask it); after the guest's EOI the line drops and is raised again if the ISR is set.
    const intx = o.channels.intx;
    new Irqfd({
      router: o.router, gsi: o.intxGsi, channel: intx, injector: o.injector, resample: this.resample,
      line: (l) => { if (l) this.stats.intx++; this.setIntx(l); },
    });
    o.injector.attach(this.resample, () => { if (Atomics.load(this.block, CB.ISR) !== 0) intx.signal(); });
    o.injector.attach(o.channels.needsReset, () => this.needsReset());
    this.routeCalls();
  }

  get hypercallKicks(): number[] { return this.hypercallChannels.map((h) => h.calls); }

  private freshQueue(): QueueRegs {
    return { size: QUEUE_MAX_SIZE, vector: VIRTIO_MSI_NO_VECTOR, enable: 0, desc: 0, driver: 0, device: 0, hi: 0 };
  }

  /** A virtio_pci_cap (+ notify_off_multiplier): cfg_type, bar, id, padding, offset, length. */
  private addVirtioCap(type: number, offset: number, length: number, multiplier?: number): void {
    const p = new Uint8Array(multiplier === undefined ? 13 : 17);
    const d = new DataView(p.buffer);
    p[0] = type; p[1] = REGS_BAR;
    d.setUint32(5, offset, true);
    d.setUint32(9, length, true);
    if (multiplier !== undefined) d.setUint32(13, multiplier, true);
    this.addVendorCapability(p);
  }

  // ------------------------------------------------------------ fast paths and interrupts

  override barMapped(index: number, addr: number): void {
    if (index !== REGS_BAR) return;
    for (const remove of this.notifyRemovers.splice(0)) remove();
    if (addr < 0) return;
    for (let q = 0; q < NUM_QUEUES; q++) {
      this.notifyRemovers.push(this.o.mem.addIoEventFd({ addr: addr + REGS.NOTIFY + q * NOTIFY_OFF_MULTIPLIER, channel: this.o.channels.kick[q]! }));
    }
  }

  /**
   * Bind each queue's notifications to the irqfd the guest's configuration asks for (the data
   * path reads Q_CALL at every notification): a driver that switches between INTx and MSI-X, or
   * moves a queue to another vector, leaves nothing on the old path.
   */
  private routeCalls(): void {
    const msix = this.msixEnabled;
    for (let q = 0; q < NUM_QUEUES; q++) {
      const v = this.queues[q]!.vector;
      const target = !msix ? CALL.INTX : v === VIRTIO_MSI_NO_VECTOR ? CALL.NONE : CALL.VECTOR0 + v;
      Atomics.store(this.block, CB.QUEUE + q * CB.QUEUE_STRIDE + CB.Q_CALL, target);
    }
  }

  /** MSI-X enable or function mask written (or a function reset): re-plumb the queues. */
  override msixChanged(vector: number | null): void {
    if (vector === null) this.routeCalls();
  }

  /** Every MSI-X message of the function goes through here (the shim's irqfds and config interrupts): counted. */
  override msixNotify(v: number): boolean {
    const sent = super.msixNotify(v);
    if (sent) this.stats.msix[v]!++;
    return sent;
  }

  /** Function-level reset: the PCI state (MSI-X off, no routes left) and the virtio device. */
  override pciReset(): void {
    super.pciReset();
    this.reset();
  }

  private configInterrupt(): void {
    this.stats.configInterrupts++;
    if (this.msixEnabled) {
      if (this.msixConfig !== VIRTIO_MSI_NO_VECTOR) this.msixNotify(this.msixConfig);
    } else {
      Atomics.or(this.block, CB.ISR, ISR_CONFIG);
      this.o.channels.intx.signal();
    }
  }

  private needsReset(): void {
    if (!(this.status & STATUS_NEEDS_RESET) && this.status !== 0) {
      this.status |= STATUS_NEEDS_RESET;
      this.configInterrupt();
    }
  }

  /** Link status (VIRTIO_NET_F_STATUS): a config change the driver hears about. */
  setLink(up: boolean): void {
    if (up === this.linkUp) return;
    this.linkUp = up;
    this.generation = (this.generation + 1) & 0xff;
    if (this.status & STATUS_DRIVER_OK) this.configInterrupt();
  }

  // ------------------------------------------------------------ control block

  private publish(): void {
    const b = this.block;
    b[CB.STATUS] = this.status;
    const ok = (this.status & STATUS_FEATURES_OK) !== 0;
    b[CB.FEATURES_LO] = ok ? this.driverFeatures[0]! : 0;
    b[CB.FEATURES_HI] = ok ? this.driverFeatures[1]! : 0;
    for (let q = 0; q < NUM_QUEUES; q++) {
      const r = this.queues[q]!, at = CB.QUEUE + q * CB.QUEUE_STRIDE;
      b[at + CB.Q_ENABLE] = r.enable;
      b[at + CB.Q_SIZE] = r.size;
      b[at + CB.Q_DESC] = r.desc;
      b[at + CB.Q_AVAIL] = r.driver;
      b[at + CB.Q_USED] = r.device;
    }
    Atomics.add(b, CB.SEQ, 1);
    this.o.channels.control.signal();
  }

  private reset(): void {
    this.statusBeforeReset = this.status || 1;
    this.status = 0;
    this.featureSelect = this.driverFeatureSelect = 0;
    this.driverFeatures = [0, 0];
    this.msixConfig = VIRTIO_MSI_NO_VECTOR;
    this.queueSelect = 0;
    for (let q = 0; q < NUM_QUEUES; q++) this.queues[q] = this.freshQueue();
    this.routeCalls();
    Atomics.store(this.block, CB.ISR, 0);
    this.setIntx(false);
    Atomics.store(this.block, CB.NEEDS_RESET, 0);
    Atomics.add(this.block, CB.RESETS, 1);
    this.publish();
    this.resetSeq = Atomics.load(this.block, CB.SEQ);
  }

  /**
   * Device status as the driver sees it: a reset completes once the data path has let go (at once
   * while no data path has started).
   */
  private deviceStatus(): number {
    if (this.resetSeq >= 0) {
      if (Atomics.load(this.block, CB.ATTACHED) !== 0 && Atomics.load(this.block, CB.ACK) !== this.resetSeq) return this.statusBeforeReset;
      this.resetSeq = -1;
    }
    return this.status;
  }

  private writeStatus(v: number): void {
    v &= 0xff;
    if (v === 0) { this.reset(); return; }
    const added = v & ~this.status;
    // Bits only go away through a reset; NEEDS_RESET is the device's.
    this.status = (this.status | v) & ~STATUS_NEEDS_RESET | (this.status & STATUS_NEEDS_RESET);
    if (added & STATUS_FEATURES_OK) {
      const [lo, hi] = this.driverFeatures as [number, number];
      if ((lo & ~DEVICE_FEATURES_LO) || (hi & ~DEVICE_FEATURES_HI) || !has(lo, hi, VIRTIO_F_VERSION_1)) {
        this.log.warn(`driver features 0x${hi.toString(16)}_${(lo >>> 0).toString(16).padStart(8, '0')} refused (unoffered bits or no VERSION_1)`);
        this.status &= ~STATUS_FEATURES_OK;
      }
    }
    if (added & (STATUS_FEATURES_OK | STATUS_DRIVER_OK)) this.publish();
  }

  private enableQueue(q: number): void {
    const r = this.queues[q]!;
    if (r.enable) return;
    const problem = r.hi !== 0 ? 'ring above 4 GiB' : ringLayoutProblem(r.size, r.desc, r.driver, r.device, (a, l) => this.o.mem.isRam(a, l));
    if (problem) {
      this.log.warn(`queue ${q} enabled with a bad layout: ${problem}`);
      this.needsReset();
      return;
    }
    r.enable = 1;
    this.publish();
  }

  // ------------------------------------------------------------ registers (BAR4)

  private regsRead(off: number, size: AccessSize): number {
    const region = off & ~0xfff, o = off & 0xfff;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      let b = 0;
      if (region === REGS.COMMON && o + i < COMMON_CFG_SIZE) b = this.commonByte(o + i);
      else if (region === REGS.DEVICE && o + i < DEVICE_CFG_SIZE) b = this.deviceByte(o + i);
      v = (v << 8) | b;
    }
    if (region === REGS.ISR && o === 0) {
      // Read-to-clear; the line itself drops at the guest's EOI (resample).
      return Atomics.exchange(this.block, CB.ISR, 0);
    }
    return v >>> 0;
  }

  private regsWrite(off: number, size: AccessSize, value: number): void {
    const region = off & ~0xfff, o = off & 0xfff;
    // Notify writes normally end in the ioeventfd; this is the same kick when it did not match.
    if (region === REGS.NOTIFY) {
      const q = o / NOTIFY_OFF_MULTIPLIER;
      if (Number.isInteger(q) && q < NUM_QUEUES) this.o.channels.kick[q]!.signal();
      return;
    }
    if (region !== REGS.COMMON) return;
    for (const [start, width] of COMMON_FIELDS) {
      if (o >= start + width || o + size <= start) continue;
      // Merge the written bytes into the field's current value (drivers use the natural width).
      let cur = this.commonField(start);
      for (let i = 0; i < size; i++) {
        const a = o + i - start;
        if (a < 0 || a >= width) continue;
        const byte = (value >>> (i * 8)) & 0xff;
        cur = (cur & ~(0xff << (a * 8))) | (byte << (a * 8));
      }
      this.writeCommon(start, cur >>> 0);
    }
  }

  private commonByte(o: number): number {
    for (const [start, width] of COMMON_FIELDS) if (o >= start && o < start + width) return (this.commonField(start) >>> ((o - start) * 8)) & 0xff;
    return 0;
  }

  private get selected(): QueueRegs | undefined { return this.queues[this.queueSelect]; }

  /** Common configuration fields (virtio_pci_common_cfg), 64-bit ones as two 32-bit halves. */
  private commonField(start: number): number {
    const q = this.selected;
    switch (start) {
      case 0x00: return this.featureSelect;
      case 0x04: return this.featureSelect === 0 ? DEVICE_FEATURES_LO >>> 0 : this.featureSelect === 1 ? DEVICE_FEATURES_HI : 0;
      case 0x08: return this.driverFeatureSelect;
      case 0x0c: return this.driverFeatureSelect < 2 ? this.driverFeatures[this.driverFeatureSelect]! >>> 0 : 0;
      case 0x10: return this.msixConfig;
      case 0x12: return NUM_QUEUES;
      case 0x14: return this.deviceStatus();
      case 0x15: return this.generation;
      case 0x16: return this.queueSelect;
      case 0x18: return q ? q.size : 0;
      case 0x1a: return q ? q.vector : VIRTIO_MSI_NO_VECTOR;
      case 0x1c: return q ? q.enable : 0;
      case 0x1e: return q ? this.queueSelect : 0;
      case 0x20: return q ? q.desc : 0;
      case 0x28: return q ? q.driver : 0;
      case 0x30: return q ? q.device : 0;
      default: return 0; // high halves: rings live below 4 GiB
    }
  }

  private writeCommon(start: number, v: number): void {
    const q = this.selected;
    // Queue layout is fixed once the queue is enabled (virtio 1.2, 4.1.4.3.2).
    const queueEditable = q !== undefined && q.enable === 0;
    switch (start) {
      case 0x00: this.featureSelect = v; return;
      case 0x08: this.driverFeatureSelect = v; return;
      case 0x0c:
        if (this.driverFeatureSelect < 2 && !(this.status & STATUS_FEATURES_OK)) this.driverFeatures[this.driverFeatureSelect] = v | 0;
        return;
      case 0x10: this.msixConfig = this.vectorOrNone(v); return;
      case 0x14: this.writeStatus(v); return;
      case 0x16: this.queueSelect = v & 0xffff; return;
      case 0x18: if (queueEditable) q.size = v & 0xffff; return;
      case 0x1a: if (q) { q.vector = this.vectorOrNone(v); this.routeCalls(); } return;
      case 0x1c: if (q && v === 1) this.enableQueue(this.queueSelect); return;
      case 0x20: if (queueEditable) q.desc = v; return;
      case 0x28: if (queueEditable) q.driver = v; return;
      case 0x30: if (queueEditable) q.device = v; return;
      case 0x24: case 0x2c: case 0x34: if (queueEditable) q.hi |= v; return;
      default: return;
    }
  }

  /** A vector the function does not have reads back as NO_VECTOR (the driver's failure check). */
  private vectorOrNone(v: number): number {
    v &= 0xffff;
    return v < MSIX_VECTORS ? v : VIRTIO_MSI_NO_VECTOR;
  }

  /** virtio_net_config: mac[6], status, max_virtqueue_pairs, mtu. */
  private deviceByte(o: number): number {
    if (o < 6) return this.o.mac[o]!;
    const word = o < 8 ? (this.linkUp ? VIRTIO_NET_S_LINK_UP : 0) : o < 10 ? 1 : this.o.mtu ?? 1500;
    return (word >>> ((o & 1) * 8)) & 0xff;
  }
}

/** [offset, width] of each virtio_pci_common_cfg field; 64-bit addresses as two dwords. */
const COMMON_FIELDS: readonly (readonly [number, number])[] = [
  [0x00, 4], [0x04, 4], [0x08, 4], [0x0c, 4], [0x10, 2], [0x12, 2], [0x14, 1], [0x15, 1], [0x16, 2], [0x18, 2],
  [0x1a, 2], [0x1c, 2], [0x1e, 2], [0x20, 4], [0x24, 4], [0x28, 4], [0x2c, 4], [0x30, 4], [0x34, 4],
];
