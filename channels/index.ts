/** Eventfd-like channels and their CPU-side bindings (see README.md). */
export {
  LocalEventChannel, SharedEventChannel, ChannelSpace, WaitSet,
  type EventChannel, type ChannelDescriptor,
} from './event-channel.js';
export { Injector, type ChannelConsumer } from './injector.js';
export { Irqfd, EoiNotifier, type IrqfdOptions } from './irqfd.js';
export { IoEventFdTable, type IoEventFdOptions } from './ioeventfd.js';
export { HypercallChannel, type HypercallDescriptor } from './hypercall.js';
