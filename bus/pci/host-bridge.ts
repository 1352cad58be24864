/** The host bridge at 00:00.0, with the ids of QEMU's i440FX (Intel 82441FX PMC). */
import { PciFunction } from './function.js';

export const I440FX_VENDOR = 0x8086, I440FX_DEVICE = 0x1237;

export class HostBridge extends PciFunction {
  constructor() {
    // Class 06/00/00: host bridge; revision 02 as QEMU's i440FX reports.
    super({ vendorId: I440FX_VENDOR, deviceId: I440FX_DEVICE, classCode: 0x060000, revision: 0x02 });
  }
}
