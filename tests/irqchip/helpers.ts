/** Shared fixtures for irqchip and device tests: a virtual clock advanced by hand, a small machine. */
import { Clock } from '../../bus/clock.js';
import { IoBus } from '../../bus/io.js';
import { PhysicalMemory } from '../../bus/memory.js';
import { createInterruptControllers, type InterruptControllers } from '../../irqchip/index.js';

/** Advance a virtual clock to `clock.now() + ns`, firing every timer at its own deadline. */
export function advance(clock: Clock, ns: number): void {
  const target = clock.now() + ns;
  for (;;) {
    const next = clock.nextDeadline();
    if (next > target) break;
    clock.skipTo(next);
    clock.runDue();
  }
  clock.skipTo(target);
  clock.runDue();
}

export function virtualClock(): Clock {
  return new Clock('virtual', { nsPerInstruction: 1, tscHz: 1e9 });
}

export interface TestMachine extends InterruptControllers {
  io: IoBus;
  mem: PhysicalMemory;
  clock: Clock;
  nmis: number;
  intrChecks: number;
}

export function machine(): TestMachine {
  const io = new IoBus();
  const mem = new PhysicalMemory(0x100000);
  const clock = virtualClock();
  const m = { io, mem, clock, nmis: 0, intrChecks: 0 } as TestMachine;
  Object.assign(m, createInterruptControllers({ io, mem, clock, onIntrChange: () => { m.intrChecks++; }, onNmi: () => { m.nmis++; } }));
  return m;
}

export const lapicRead = (m: TestMachine, reg: number): number => m.mem.read(0xfee00000 + reg, 4);
export const lapicWrite = (m: TestMachine, reg: number, v: number): void => m.mem.write(0xfee00000 + reg, 4, v);
export function ioapicRead(m: TestMachine, index: number): number {
  m.mem.write(0xfec00000, 4, index);
  return m.mem.read(0xfec00010, 4);
}
export function ioapicWrite(m: TestMachine, index: number, v: number): void {
  m.mem.write(0xfec00000, 4, index);
  m.mem.write(0xfec00010, 4, v);
}

/** Linux's init_8259A: mask, ICW1-4 with vectors 0x30/0x38 (as i386 does), then mask again (ICW1 cleared IMR). */
export function initPicLinux(io: IoBus, autoEoi = false): void {
  io.write(0x21, 1, 0xff); io.write(0xa1, 1, 0xff);
  io.write(0x20, 1, 0x11); io.write(0x21, 1, 0x30); io.write(0x21, 1, 0x04); io.write(0x21, 1, autoEoi ? 0x03 : 0x01);
  io.write(0xa0, 1, 0x11); io.write(0xa1, 1, 0x38); io.write(0xa1, 1, 0x02); io.write(0xa1, 1, 0x01);
  io.write(0x21, 1, 0xff); io.write(0xa1, 1, 0xff);
}
