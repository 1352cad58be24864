/**
 * The virtio-net data path (what vhost-net is to QEMU): receive and transmit queue processing
 * between guest RAM and a NetBackend. It runs wherever the host puts it (a worker over shared
 * RAM, or the CPU thread) and reaches the rest of the device only through channels and the
 * control block: kick channels in (one per queue, from an ioeventfd or a hypercall), irqfd
 * channels out (one per MSI-X vector, one for INTx; the control plane says in the control block
 * which one each queue signals, as QEMU hands vhost a queue's call eventfd), and a control
 * channel in plus `needsReset` out.
 *
 * `poll()` is the one entry: apply control changes, consume kicks, move frames. Frames from the
 * backend are placed at once (MRG_RXBUF across as many chains as needed) or dropped when the
 * driver has no buffers, as a NIC does. Fixed buffers; nothing is allocated per packet.
 */
import type { EventChannel } from '../../channels/event-channel.js';
import { GuestLog, type LogSink } from '../../bus/pci/guest-log.js';
import type { NetBackend } from '../net-backend.js';
import { CALL, CB, ISR_QUEUE, STAT } from './control-block.js';
import type { DmaRam } from './dma.js';
import {
  has, NET_HDR_NUM_BUFFERS, NET_HDR_SIZE, NUM_QUEUES, RX_QUEUE, STATUS_DRIVER_OK, TX_QUEUE,
  VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_NET_F_MRG_RXBUF,
} from './spec.js';
import { POP_BAD, POP_BROKEN, POP_EMPTY, QUEUE_MAX_SIZE, Segments, SplitQueue } from './virtqueue.js';

/** Largest frame either way: 64 KiB of payload plus the Ethernet header (no GSO offered). */
export const MAX_FRAME = 65535 + 14;
/** Buffers gathered for one frame (MRG_RXBUF chains, or one chain's descriptors). */
const MAX_SEGMENTS = 4 * QUEUE_MAX_SIZE;

export interface DataPathChannels {
  /** Driver notifications, per queue. */
  kick: EventChannel[];
  /** MSI-X vector v's irqfd (the MSI shim routes its GSI). */
  vectors: EventChannel[];
  /** The INTx resampling irqfd (level; the ISR in the control block says why). */
  intx: EventChannel;
  /** Control block changed (control plane -> data path). */
  control: EventChannel;
  /** A ring broke (data path -> control plane). */
  needsReset: EventChannel;
}

export class VirtioNetDataPath {
  private readonly queues: SplitQueue[];
  private readonly log: GuestLog;
  /** Separate per direction: a backend may answer inside send(), while transmit() runs. */
  private readonly txSegs = new Segments(MAX_SEGMENTS);
  private readonly rxSegs = new Segments(MAX_SEGMENTS);
  private readonly heads = new Uint16Array(MAX_SEGMENTS);
  private readonly chainLen = new Uint32Array(MAX_SEGMENTS);
  private readonly hdr = new Uint8Array(NET_HDR_SIZE);
  private readonly txBuf = new Uint8Array(NET_HDR_SIZE + MAX_FRAME);
  /** Last view handed to the backend, reused while frames keep one length (ping). */
  private txView = this.txBuf.subarray(0, 0);
  private resets = 0;
  private driverOk = false;
  private mrg = false;

  constructor(
    private readonly ram: DmaRam,
    private readonly block: Int32Array,
    private readonly ch: DataPathChannels,
    private readonly backend: NetBackend,
    log?: LogSink,
  ) {
    this.log = new GuestLog('virtio-net', log);
    this.queues = [new SplitQueue(ram, this.log, 'receiveq'), new SplitQueue(ram, this.log, 'transmitq')];
    backend.onReceive = (frame) => this.receive(frame);
    // From here on a reset waits for this data path's ACK; its first poll applies the block as the
    // driver has left it (queues set up and DRIVER_OK before it started included).
    Atomics.store(block, CB.ATTACHED, 1);
  }

  /** Do everything pending. Returns true if work may remain (call again soon). */
  poll(): boolean {
    if (this.ch.control.read() !== 0 || Atomics.load(this.block, CB.SEQ) !== Atomics.load(this.block, CB.ACK)) this.applyControl();
    const b = this.block;
    const rxKicks = this.ch.kick[RX_QUEUE]!.read(), txKicks = this.ch.kick[TX_QUEUE]!.read();
    b[STAT.rx_kicks] = (b[STAT.rx_kicks]! + rxKicks) | 0;
    b[STAT.tx_kicks] = (b[STAT.tx_kicks]! + txKicks) | 0;
    return this.driverOk ? this.transmit() : false;
  }

  private applyControl(): void {
    const b = this.block;
    const seq = Atomics.load(b, CB.SEQ);
    const resets = Atomics.load(b, CB.RESETS);
    if (resets !== this.resets) {
      this.resets = resets;
      for (const q of this.queues) q.reset();
    }
    const lo = b[CB.FEATURES_LO]!, hi = b[CB.FEATURES_HI]!;
    this.mrg = has(lo, hi, VIRTIO_NET_F_MRG_RXBUF);
    const features = { eventIdx: has(lo, hi, VIRTIO_F_EVENT_IDX), indirect: has(lo, hi, VIRTIO_F_INDIRECT_DESC) };
    for (let i = 0; i < NUM_QUEUES; i++) {
      const q = this.queues[i]!, at = CB.QUEUE + i * CB.QUEUE_STRIDE;
      const enabled = b[at + CB.Q_ENABLE] !== 0;
      if (!enabled) { if (q.ready) q.reset(); continue; }
      if (q.ready || q.broken) continue;
      if (!q.configure(b[at + CB.Q_SIZE]!, b[at + CB.Q_DESC]! >>> 0, b[at + CB.Q_AVAIL]! >>> 0, b[at + CB.Q_USED]! >>> 0, features)) this.broken();
    }
    this.driverOk = (b[CB.STATUS]! & STATUS_DRIVER_OK) !== 0;
    Atomics.store(b, CB.ACK, seq);
  }

  private broken(): void {
    if (Atomics.exchange(this.block, CB.NEEDS_RESET, 1) === 0) this.ch.needsReset.signal();
  }

  private count(stat: number): void { this.block[stat] = (this.block[stat]! + 1) | 0; }

  private finish(q: SplitQueue, index: number): void {
    if (q.publishUsed()) {
      this.notify(index);
      this.count(index === RX_QUEUE ? STAT.rx_interrupts : STAT.tx_interrupts);
    }
  }

  /** Signal the irqfd the control plane bound queue `index` to (NO_VECTOR: none). */
  private notify(index: number): void {
    const b = this.block;
    const t = Atomics.load(b, CB.QUEUE + index * CB.QUEUE_STRIDE + CB.Q_CALL);
    if (t === CALL.INTX) {
      Atomics.or(b, CB.ISR, ISR_QUEUE);
      this.ch.intx.signal();
    } else if (t >= CALL.VECTOR0 && t - CALL.VECTOR0 < this.ch.vectors.length) this.ch.vectors[t - CALL.VECTOR0]!.signal();
  }

  /** Send what the driver queued; bounded per call so a busy guest cannot pin the data path. */
  private transmit(): boolean {
    const q = this.queues[TX_QUEUE]!, segs = this.txSegs, u8 = this.ram.u8, buf = this.txBuf;
    for (let budget = 2 * QUEUE_MAX_SIZE; budget > 0; budget--) {
      segs.count = 0;
      const head = q.pop(segs);
      if (head === POP_EMPTY) { this.finish(q, TX_QUEUE); return false; }
      if (head === POP_BROKEN) { this.finish(q, TX_QUEUE); this.broken(); return false; }
      if (head === POP_BAD) { q.addUsed(q.badHead, 0); this.count(STAT.bad_chains); continue; }
      const total = q.readLen;
      if (q.writeLen !== 0 || total <= NET_HDR_SIZE + 13 || total > buf.length) {
        this.log.warn(`transmitq: chain at head ${head} (${total} bytes, ${q.writeLen} writable) is not a frame; dropped`);
        q.addUsed(head, 0);
        this.count(STAT.tx_dropped);
        continue;
      }
      // Gather header and frame; the header is not used (no offloads were offered).
      let n = 0;
      for (let s = 0; s < segs.count; s++) {
        const a = segs.addr[s]!, l = segs.len[s]!;
        for (let k = 0; k < l; k++) buf[n + k] = u8[a + k]!;
        n += l;
      }
      const len = n - NET_HDR_SIZE;
      if (this.txView.length !== len) this.txView = buf.subarray(NET_HDR_SIZE, n);
      q.addUsed(head, 0);
      this.count(STAT.tx_packets);
      this.backend.send(this.txView);
    }
    this.finish(q, TX_QUEUE);
    return true;
  }

  /** A frame from the backend: into the driver's receive buffers, or dropped. */
  receive(frame: Uint8Array): void {
    const q = this.queues[RX_QUEUE]!;
    if (!this.driverOk || !q.ready || frame.length < 14 || frame.length > MAX_FRAME) { this.count(STAT.rx_dropped); return; }
    const segs = this.rxSegs, heads = this.heads, chainLen = this.chainLen;
    const need = NET_HDR_SIZE + frame.length;
    segs.count = 0;
    let chains = 0, room = 0;
    while (room < need) {
      const head = chains < MAX_SEGMENTS && (this.mrg || chains === 0) ? q.pop(segs) : POP_EMPTY;
      if (head === POP_EMPTY) {
        // Not enough buffers (or one too small without MRG_RXBUF): leave them for later frames.
        q.unpop(chains);
        this.count(STAT.rx_dropped);
        return;
      }
      if (head === POP_BROKEN) { q.unpop(chains); this.count(STAT.rx_dropped); this.broken(); return; }
      if (head === POP_BAD || q.readLen !== 0) {
        // The chains taken so far sit before the bad one in the ring, so all go back unused.
        if (head !== POP_BAD) this.log.warn(`receiveq: chain at head ${head} has device-readable buffers; returned unused`);
        for (let c = 0; c < chains; c++) q.addUsed(heads[c]!, 0);
        q.addUsed(head === POP_BAD ? q.badHead : head, 0);
        this.count(STAT.bad_chains);
        this.count(STAT.rx_dropped);
        this.finish(q, RX_QUEUE);
        return;
      }
      heads[chains] = head;
      chainLen[chains] = q.writeLen;
      chains++;
      room += q.writeLen;
    }
    const hdr = this.hdr;
    hdr[NET_HDR_NUM_BUFFERS] = this.mrg ? chains & 0xff : 0;
    hdr[NET_HDR_NUM_BUFFERS + 1] = this.mrg ? chains >>> 8 : 0;
    // Header then frame, over the segments in order; each chain reports what landed in it.
    let s = 0, pos = 0;
    for (let c = 0; c < chains; c++) {
      let used = 0;
      for (let chainLeft = chainLen[c]!; chainLeft > 0; s++) {
        const a = segs.addr[s]!, l = segs.len[s]!;
        chainLeft -= l;
        const take = Math.min(l, need - pos);
        if (take === 0) continue;
        this.copyOut(frame, pos, a, take);
        pos += take; used += take;
      }
      q.addUsed(heads[c]!, used);
    }
    this.count(STAT.rx_packets);
    this.finish(q, RX_QUEUE);
  }

  /** Bytes [pos, pos + n) of header + frame to guest RAM at `dst`. */
  private copyOut(frame: Uint8Array, pos: number, dst: number, n: number): void {
    const u8 = this.ram.u8, hdr = this.hdr;
    this.ram.sink.written(dst, n);
    while (n > 0 && pos < NET_HDR_SIZE) { u8[dst++] = hdr[pos++]!; n--; }
    if (n === 0) return;
    const f = pos - NET_HDR_SIZE;
    if (f === 0 && n === frame.length) { u8.set(frame, dst); return; }
    for (let j = 0; j < n; j++) u8[dst + j] = frame[f + j]!;
  }
}
