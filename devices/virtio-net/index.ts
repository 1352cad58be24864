/**
 * virtio-net, assembled: the PCI transport (control plane, CPU thread) plus the data path, either
 * inline (in-thread channels that dispatch synchronously: deterministic) or remote (shared
 * channels, shared RAM and control block, described by a structured-cloneable descriptor that
 * the host hands to a worker, which rebuilds the data path with `remoteDataPath`).
 */
import type { PhysicalMemory } from '../../bus/memory.js';
import { PageKind } from '../../bus/memory.js';
import type { LogSink } from '../../bus/pci/guest-log.js';
import type { GsiRouter } from '../../irqchip/router.js';
import {
  ChannelSpace, LocalEventChannel, SharedEventChannel, WaitSet, type ChannelDescriptor, type EventChannel,
} from '../../channels/event-channel.js';
import type { Injector } from '../../channels/injector.js';
import type { KvmParavirt } from '../kvm-paravirt.js';
import type { NetBackend } from '../net-backend.js';
import { newControlBlock, readStats, type StatName } from './control-block.js';
import { VirtioNetDataPath, type DataPathChannels } from './data-path.js';
import { DmaRam, SharedDirtyPages, ramPageMap } from './dma.js';
import { MSIX_VECTORS, VirtioNetPci } from './pci.js';
import { NUM_QUEUES } from './spec.js';

export { VirtioNetPci, VIRTIO_VENDOR, VIRTIO_NET_DEVICE, TS86_CAP_VENDOR_ID } from './pci.js';
export { VirtioNetDataPath } from './data-path.js';
export { STAT_NAMES, type StatName } from './control-block.js';

/** QEMU's default MAC for the first NIC (52:54:00:12:34:56). */
export const DEFAULT_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);

/** Everything a worker needs to run the data path (postMessage-safe). */
export interface RemoteDataPath {
  /** Guest RAM is the first `ramSize` bytes of `ram` (the CPU's tables follow it in the same buffer). */
  ram: SharedArrayBuffer;
  ramSize: number;
  ramPages: SharedArrayBuffer;
  dirty: SharedArrayBuffer;
  block: SharedArrayBuffer;
  kick: ChannelDescriptor[];
  vectors: ChannelDescriptor[];
  intx: ChannelDescriptor;
  control: ChannelDescriptor;
  needsReset: ChannelDescriptor;
}

export interface VirtioNetOptions {
  mem: PhysicalMemory;
  router: GsiRouter;
  injector: Injector;
  intxGsi: number;
  /** GSI of MSI-X vector 0 (default 24, the first past the IOAPIC's pins). */
  msixGsi?: number;
  /** 'inline': the data path runs here on `backend`; 'remote': `remote` describes it for a worker. */
  placement: 'inline' | 'remote';
  backend?: NetBackend;
  /** Kick by VMCALL as well (the vendor capability lists one hypercall per queue). */
  hypercalls?: KvmParavirt;
  mac?: Uint8Array;
  log?: LogSink;
}

export class VirtioNet {
  readonly pci: VirtioNetPci;
  readonly dataPath: VirtioNetDataPath | null = null;
  readonly remote: RemoteDataPath | null = null;
  private readonly block: Int32Array;
  private readonly dirty: SharedDirtyPages | null = null;

  constructor(private readonly o: VirtioNetOptions) {
    const remote = o.placement === 'remote';
    this.block = newControlBlock(remote);
    let channels: DataPathChannels;
    if (remote) {
      if (!(o.mem.ram.buffer instanceof SharedArrayBuffer)) throw new Error('a remote virtio-net data path needs guest RAM in a SharedArrayBuffer');
      const space = new ChannelSpace(16);
      const ch = () => space.alloc();
      const c = { kick: [ch(), ch()], vectors: Array.from({ length: MSIX_VECTORS }, ch), intx: ch(), control: ch(), needsReset: ch() };
      channels = c;
      this.dirty = new SharedDirtyPages(o.mem.ramSize);
      const d = (x: SharedEventChannel) => x.descriptor;
      this.remote = {
        ram: o.mem.ram.buffer, ramSize: o.mem.ramSize, ramPages: ramPageMap(o.mem.runsOf(PageKind.Ram, 0, o.mem.ramSize >>> 12), o.mem.ramSize, true).buffer as SharedArrayBuffer,
        dirty: this.dirty.buffer, block: this.block.buffer as SharedArrayBuffer,
        kick: c.kick.map(d), vectors: c.vectors.map(d), intx: d(c.intx), control: d(c.control), needsReset: d(c.needsReset),
      };
    } else {
      if (!o.backend) throw new Error('an inline virtio-net data path needs a network backend');
      const l = () => new LocalEventChannel();
      const c = { kick: [l(), l()], vectors: Array.from({ length: MSIX_VECTORS }, l), intx: l(), control: l(), needsReset: l() };
      channels = c;
      const ram = new DmaRam(o.mem.ram, ramPageMap(o.mem.runsOf(PageKind.Ram, 0, o.mem.ramSize >>> 12), o.mem.ramSize, false), { written: (a, n) => o.mem.invalidateCode(a, n) });
      const dp = this.dataPath = new VirtioNetDataPath(ram, this.block, channels, o.backend, o.log);
      // In-thread: the data path runs synchronously inside the guest's kick or the control write.
      const run = () => { while (dp.poll()); };
      for (const k of [...c.kick, c.control]) k.onSignal = run;
    }
    this.pci = new VirtioNetPci({
      mem: o.mem, router: o.router, injector: o.injector, intxGsi: o.intxGsi, msixGsi: o.msixGsi, channels, block: this.block,
      mac: o.mac ?? DEFAULT_MAC, hypercalls: o.hypercalls, log: o.log,
    });
  }

  /**
   * CPU thread, before guest code runs: decoded code over pages the worker wrote is dropped.
   * (In-thread DMA invalidates as it writes.)
   */
  syncDma(): void {
    const mem = this.o.mem;
    this.dirty?.drain((page) => { if (mem.codePages[page]) mem.invalidateCode(page << 12, 4096); });
  }

  /** Data-path counters plus the transport's interrupt and hypercall counts. */
  stats(): Record<StatName, number> & { msix: number[]; intx: number; configInterrupts: number; hypercallKicks: number[] } {
    return { ...readStats(this.block), ...this.pci.stats, msix: [...this.pci.stats.msix], hypercallKicks: this.pci.hypercallKicks };
  }
}

/**
 * Worker side: the data path over the shared memory of `d`, and the set of channels to wait on.
 * The caller loops: `while (dataPath.poll());` then `await waitSet.waitAsync()`.
 */
export function remoteDataPath(d: RemoteDataPath, backend: NetBackend, log?: LogSink): { dataPath: VirtioNetDataPath; waitSet: WaitSet } {
  const from = (x: ChannelDescriptor): EventChannel => SharedEventChannel.from(x);
  const channels: DataPathChannels = { kick: d.kick.map(from), vectors: d.vectors.map(from), intx: from(d.intx), control: from(d.control), needsReset: from(d.needsReset) };
  if (channels.kick.length !== NUM_QUEUES || channels.vectors.length !== MSIX_VECTORS) throw new Error('virtio-net: descriptor has the wrong number of queues or vectors');
  const ram = new DmaRam(new Uint8Array(d.ram, 0, d.ramSize), new Uint8Array(d.ramPages), new SharedDirtyPages(d.ramSize, d.dirty));
  const dataPath = new VirtioNetDataPath(ram, new Int32Array(d.block), channels, backend, log);
  return { dataPath, waitSet: new WaitSet([...channels.kick, channels.control]) };
}
