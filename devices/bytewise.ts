/**
 * Port handler for 8-bit ISA devices. A 16- or 32-bit access to an 8-bit device is split by the
 * bus into byte cycles on consecutive ports, low byte first; ports the device does not decode
 * read 0xFF (floating bus) and ignore writes.
 */
import type { AccessSize, PortHandler } from '../bus/io.js';

export function bytewise(readByte: (port: number) => number, writeByte: (port: number, value: number) => void): PortHandler {
  return {
    read(port: number, size: AccessSize): number {
      let v = 0;
      for (let i = 0; i < size; i++) v |= (readByte((port + i) & 0xffff) & 0xff) << (i * 8);
      return v >>> 0;
    },
    write(port: number, size: AccessSize, value: number): void {
      for (let i = 0; i < size; i++) writeByte((port + i) & 0xffff, (value >>> (i * 8)) & 0xff);
    },
  };
}
