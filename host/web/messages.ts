/** What the page and its workers say to each other (structured-clone messages). */
import type { RemoteDataPath } from '../../devices/virtio-net/index.js';

export interface BootRequest {
  kind: 'boot';
  /** A kernel image, as the firmware's detectKernel takes it. */
  kernel: Uint8Array;
  initrd: Uint8Array | null;
  /** A Multiboot kernel gets the initrd as a module with this command line. */
  initrdName: string;
  cmdline: string;
  memoryMiB: number;
  /** The network: 'user' or a `ts86 switch` URL. */
  net: string;
  /** The card's MAC. */
  mac: Uint8Array;
}

/** Page -> CPU worker. A reset is a fresh worker booted with the same images. */
export type ToWorker =
  | BootRequest
  | { kind: 'input'; bytes: Uint8Array }
  | { kind: 'pause' }
  | { kind: 'resume' };

/** Interrupts the guest took since the last report, by source. */
export interface InterruptRate { source: string; count: number }

export interface Stats {
  kind: 'stats';
  /** Host milliseconds the report covers. */
  wallMs: number;
  /** Guest instructions retired in that time. */
  instructions: number;
  /** Guest time since boot. */
  guestMs: number;
  interrupts: InterruptRate[];
  /** Ethernet frames to and from the guest since the last report (null: the device-model worker counts them). */
  packets: PacketCounts | null;
}

export interface PacketCounts { packetsIn: number; packetsOut: number }

/** CPU worker -> page. */
export type FromWorker =
  /** `remote`: the card's data path waits for a device-model worker (cross-origin isolated pages). */
  | { kind: 'started'; kernelKind: string; sharedRam: boolean; remote: RemoteDataPath | null }
  | { kind: 'serial'; bytes: Uint8Array }
  | Stats
  /** The machine stopped for good: a guest triple fault, a guest reset, an exit device write. */
  | { kind: 'stopped'; reason: string }
  /** The images could not be booted (not a kernel, too large, ...). */
  | { kind: 'error'; message: string }
  | NoNetwork;

/** The switch could not be reached: the card runs unplugged. */
export interface NoNetwork { kind: 'no-network'; message: string }

/** Page -> device-model worker (once). */
export interface ToNetWorker { remote: RemoteDataPath; net: string }

/** Device-model worker -> page. */
export type FromNetWorker = ({ kind: 'packets' } & PacketCounts) | NoNetwork;
