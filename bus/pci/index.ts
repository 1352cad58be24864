/** PCI: configuration mechanism #1, bus 0, BAR decoding, MSI-X, the host bridge. */
export { PciBus, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, PCI_MMIO_WINDOW, type PciBusOptions } from './bus.js';
export {
  PciFunction, PCI, PCI_COMMAND, PCI_STATUS, PCI_CAP_ID, MSIX_CONTROL, MSIX_ENTRY_SIZE,
  type BarDef, type BarHandler, type PciIds, type MsixVector, type BarIoEventFd, type MsixDelivery,
} from './function.js';
export { HostBridge, I440FX_VENDOR, I440FX_DEVICE } from './host-bridge.js';
export { GuestLog, type LogSink } from './guest-log.js';
export { MsixRouting, type MsixRoutingOptions } from './msix-routing.js';
