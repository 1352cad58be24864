/**
 * The state the control plane (PCI transport, CPU thread) hands the data path (queues, wherever
 * it runs), vhost-style: an Int32Array, shared when the data path is a worker. The control plane
 * writes the fields, bumps SEQ and signals the control channel; the data path applies them and
 * stores SEQ into ACK. Statistics flow back the other way (written by the data path only).
 */
export const CB = {
  SEQ: 0,
  ACK: 1,
  /** Bumped by every device reset: the data path forgets all queue state. */
  RESETS: 2,
  /** Device status as the driver wrote it (DRIVER_OK gates the queues). */
  STATUS: 3,
  FEATURES_LO: 4,
  FEATURES_HI: 5,
  /** Set by the data path when a ring broke (the control plane raises DEVICE_NEEDS_RESET). */
  NEEDS_RESET: 6,
  /** The ISR status register (bit 0 queue, bit 1 config): set by either side, read-to-clear by the guest. */
  ISR: 7,
  /**
   * Per queue (QUEUE + q * QUEUE_STRIDE): enable, size, desc, avail (driver), used (device), and
   * Q_CALL, the irqfd its used-buffer notifications go to (a CALL value; vhost's VHOST_SET_VRING_CALL).
   * Q_CALL is live: the data path reads it at every notification, outside the SEQ/ACK handshake.
   */
  QUEUE: 8,
  QUEUE_STRIDE: 8,
  Q_ENABLE: 0, Q_SIZE: 1, Q_DESC: 2, Q_AVAIL: 3, Q_USED: 4, Q_CALL: 5,
  /**
   * Set by the data path when it starts. A worker may start after the driver's first resets (the
   * host defers it, see host/device-model.ts): until then no queue state exists for a reset to
   * drop, and the reset completes without an ACK.
   */
  ATTACHED: 24,
  /** Statistics, see STAT_NAMES. */
  STATS: 32,
  LENGTH: 48,
} as const;

/** Q_CALL values: no interrupt, INTx (ISR bit 0, then the INTx irqfd), or MSI-X vector (v - VECTOR0)'s irqfd. */
export const CALL = { NONE: 0, INTX: 1, VECTOR0: 2 } as const;
export const ISR_QUEUE = 1, ISR_CONFIG = 2;

/** Data-path statistics, in order from CB.STATS. */
export const STAT_NAMES = ['rx_packets', 'rx_dropped', 'tx_packets', 'tx_dropped', 'bad_chains', 'rx_kicks', 'tx_kicks', 'rx_interrupts', 'tx_interrupts'] as const;
export type StatName = typeof STAT_NAMES[number];
export const STAT = Object.fromEntries(STAT_NAMES.map((n, i) => [n, CB.STATS + i])) as Record<StatName, number>;

export function newControlBlock(shared: boolean): Int32Array {
  const bytes = CB.LENGTH * 4;
  return new Int32Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
}

export function readStats(block: Int32Array): Record<StatName, number> {
  return Object.fromEntries(STAT_NAMES.map((n) => [n, block[STAT[n]]! >>> 0])) as Record<StatName, number>;
}
