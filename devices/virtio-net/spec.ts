/** Numbers from the virtio 1.2 specification that both halves of the device use. */

/** Feature bits (low word: bit n; high word: bit n - 32). */
export const VIRTIO_NET_F_MTU = 3;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

/** What the device offers, as two 32-bit words. No checksum or segmentation offloads. */
export const DEVICE_FEATURES_LO = (1 << VIRTIO_NET_F_MTU) | (1 << VIRTIO_NET_F_MAC) | (1 << VIRTIO_NET_F_MRG_RXBUF)
  | (1 << VIRTIO_NET_F_STATUS) | (1 << VIRTIO_F_INDIRECT_DESC) | (1 << VIRTIO_F_EVENT_IDX);
export const DEVICE_FEATURES_HI = 1 << (VIRTIO_F_VERSION_1 - 32);

export const has = (lo: number, hi: number, bit: number): boolean => bit < 32 ? ((lo >>> bit) & 1) === 1 : ((hi >>> (bit - 32)) & 1) === 1;

/** Device status bits. */
export const STATUS_ACKNOWLEDGE = 1, STATUS_DRIVER = 2, STATUS_DRIVER_OK = 4, STATUS_FEATURES_OK = 8;
export const STATUS_NEEDS_RESET = 0x40, STATUS_FAILED = 0x80;

/** virtio_net_hdr_v1 (VERSION_1: always 12 bytes, num_buffers at offset 10). */
export const NET_HDR_SIZE = 12;
export const NET_HDR_NUM_BUFFERS = 10;
export const VIRTIO_NET_S_LINK_UP = 1;

/** Queues: receiveq1 and transmitq1 (no control queue, no multiqueue). */
export const RX_QUEUE = 0, TX_QUEUE = 1, NUM_QUEUES = 2;

export const VIRTIO_MSI_NO_VECTOR = 0xffff;
