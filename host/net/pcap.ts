/**
 * Capture (`--pcap FILE`): a NetBackend wrapper that records every frame in both directions in
 * libpcap format (microsecond timestamps, LINKTYPE_ETHERNET) through a sink. Browser-safe; the
 * file sink is in pcap-file.ts.
 */
import type { NetBackend } from '../../devices/net-backend.js';

export const PCAP_MAGIC = 0xa1b2c3d4;
export const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;

/** Receives the capture as it grows: the 24-byte file header first, then records. */
export interface PcapSink {
  /** Must copy or write out `bytes` before returning. */
  write(bytes: Uint8Array): void;
  close(): void;
}

export class PcapBackend implements NetBackend {
  onReceive: ((frame: Uint8Array) => void) | null = null;
  /** One record (header and frame) at a time, reused. */
  private readonly rec = new Uint8Array(16 + SNAPLEN);
  private readonly dv = new DataView(this.rec.buffer);

  constructor(private readonly inner: NetBackend, private readonly sink: PcapSink, private readonly clock: () => number = wallMicros) {
    const h = new DataView(new ArrayBuffer(24));
    h.setUint32(0, PCAP_MAGIC, true);
    h.setUint16(4, 2, true); h.setUint16(6, 4, true);
    h.setUint32(16, SNAPLEN, true);
    h.setUint32(20, LINKTYPE_ETHERNET, true);
    sink.write(new Uint8Array(h.buffer));
    inner.onReceive = (frame) => {
      this.record(frame);
      this.onReceive?.(frame);
    };
  }

  send(frame: Uint8Array): void {
    this.record(frame);
    this.inner.send(frame);
  }

  close(): void {
    this.inner.close();
    this.sink.close();
  }

  private record(frame: Uint8Array): void {
    const t = this.clock(), n = Math.min(frame.length, SNAPLEN);
    this.dv.setUint32(0, Math.floor(t / 1e6), true);
    this.dv.setUint32(4, t % 1e6, true);
    this.dv.setUint32(8, n, true);
    this.dv.setUint32(12, frame.length, true);
    this.rec.set(frame.length > n ? frame.subarray(0, n) : frame, 16);
    this.sink.write(this.rec.subarray(0, 16 + n));
  }
}

const wallMicros = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000);
