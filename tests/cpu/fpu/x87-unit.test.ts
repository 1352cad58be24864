// Behaviour of the x87 model that the native differential tests cannot reach from user mode:
// real-mode environment layouts, CR0.NE=0 (FERR#), faulting stores and loads, FXRSTOR's MXCSR check.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X87 } from '../../../cpu/fpu/x87.js';
import { ModelHost } from './harness.js';

class Fault extends Error {}

/** an FPU after reset and FNINIT, as software would use it */
function setup(): { fpu: X87; host: ModelHost } {
  const host = new ModelHost();
  host.base = 0;
  const fpu = new X87(host);
  fpu.execute(0xdb, 0xe3, 0, true, false, 0, 0, 0, 0);
  return { fpu, host };
}
const rd16 = (h: ModelHost, a: number): number => h.read16(a);

// FLD1; FLD1; FADDP at 1234:5678 with the operand-less form, then FNSTENV in real mode
test('real-mode FNSTENV/FLDENV layouts (16- and 32-bit)', () => {
  for (const o32 of [false, true]) {
    const { fpu, host } = setup();
    fpu.execute(0xd9, 0xe8, 0, o32, true, 0x5670, 0x1234, 0, 0);                    // FLD1
    fpu.execute(0xd8, 0x06, 0x100, o32, true, 0x5678, 0x1234, 0xabcd, 0x9000);       // FADD m32 (DS:ABCD)
    fpu.execute(0xd9, 0x36, 0x200, o32, true, 0x5680, 0x1234, 0x200, 0);             // FNSTENV
    const w = (i: number): number => (o32 ? host.read32(0x200 + i * 4) : rd16(host, 0x200 + i * 2));
    const ip = 0x12340 + 0x5678, dp = 0x90000 + 0xabcd;
    assert.is(w(3) & 0xffff, ip & 0xffff);
    assert.is(w(4), ((ip >>> 16) << 12) | 0x006);                                     // FIP[31:16], FOP = D8 06
    assert.is(w(5) & 0xffff, dp & 0xffff);
    assert.is(w(6), (dp >>> 16) << 12);
    assert.is(fpu.getControlWord() & 0x3f, 0x3f);                                      // FNSTENV masks everything
    fpu.execute(0xdb, 0xe3, 0, o32, true, 0, 0, 0, 0);                                 // FNINIT
    fpu.execute(0xd9, 0x26, 0x200, o32, true, 0, 0, 0, 0);                             // FLDENV
    assert.is(fpu.fip, ip);
    assert.is(fpu.fdp, dp);
    assert.is(fpu.fop, 0x006);
    assert.is(fpu.getTagWord(), 0x3fff); // ST(0) valid (2.0 in R7), the rest empty
  }
});

test('CR0.NE=0: a pending unmasked exception signals FERR# and the instruction runs', () => {
  const { fpu, host } = setup();
  host.ne = false;
  host.write16(0x10, 0x37e);                                 // IE unmasked
  fpu.execute(0xd9, 0x2e, 0x10, true, false, 0, 0, 0, 0);    // FLDCW
  fpu.execute(0xd9, 0xe0, 0, true, false, 0, 0, 0, 0);       // FCHS of an empty register: stack underflow
  assert.is(fpu.getStatusWord() & 0x80c1, 0x80c1);           // B, ES, SF, IE
  assert.is(host.ferr, 0);
  fpu.execute(0xd9, 0xe8, 0, true, false, 0, 0, 0, 0);       // FLD1: a waiting instruction
  assert.is(host.ferr, 1);
  assert.is(fpu.regHi(fpu.phys(0)), 0x80000000);             // and it ran
  host.ne = true;
  assert.throws(() => fpu.fwait());                          // #MF
  fpu.execute(0xdb, 0xe2, 0, true, false, 0, 0, 0, 0);       // FNCLEX
  fpu.fwait();
});

test('a faulting store or load leaves the FPU unchanged (restartable)', () => {
  const { fpu, host } = setup();
  fpu.execute(0xd9, 0xeb, 0, true, false, 0, 0, 0, 0);       // FLDPI
  const before = (): string => `${fpu.getStatusWord()} ${fpu.getTagWord()} ${fpu.regHi(fpu.phys(0))} ${fpu.fip}`;
  const snap = before();
  const probe = host.probeWrite.bind(host), read32 = host.read32.bind(host);
  host.probeWrite = () => { throw new Fault(); };
  for (const [esc, modrm] of [[0xdd, 0x1e], [0xdb, 0x3e], [0xdf, 0x3e], [0xdf, 0x36], [0xdd, 0x36], [0xd9, 0x36]]) {
    assert.throws(() => fpu.execute(esc, modrm, 0x100, true, false, 0x99, 8, 0x100, 16), (e: unknown) => e instanceof Fault);
    assert.is(before(), snap);
  }
  host.probeWrite = probe;
  host.read32 = () => { throw new Fault(); };
  for (const [esc, modrm] of [[0xdd, 0x06], [0xdc, 0x06], [0xdb, 0x2e], [0xdd, 0x26], [0xd9, 0x26]]) {
    assert.throws(() => fpu.execute(esc, modrm, 0x100, true, false, 0x99, 8, 0x100, 16), (e: unknown) => e instanceof Fault);
    assert.is(before(), snap);
  }
  host.read32 = read32;
});

for (const direct of [true, false]) test(`FXRSTOR refuses reserved MXCSR bits; FXSAVE/FXRSTOR round trip (${direct ? 'copied at once' : 'access by access'})`, () => {
  const { fpu, host } = setup();
  host.direct = direct;
  fpu.execute(0xd9, 0xeb, 0, true, false, 0x1000, 8, 0, 0); // FLDPI
  fpu.execute(0xd9, 0xea, 0, true, false, 0x1002, 8, 0, 0); // FLDL2E
  fpu.fxsave(0x200);
  assert.is(host.read32(0x200 + 24), 0x1f80);
  assert.is(host.read16(0x200 + 4) & 0xff, 0xc0);           // abridged tags: R6, R7
  const sw = fpu.getStatusWord();
  fpu.execute(0xdb, 0xe3, 0, true, false, 0, 0, 0, 0);
  host.write32(0x200 + 24, 0x10000);
  assert.is(fpu.fxrstor(0x200), false);
  assert.is(fpu.getTagWord(), 0xffff);
  host.write32(0x200 + 24, 0x1f80);
  assert.is(fpu.fxrstor(0x200), true);
  assert.is(fpu.getStatusWord(), sw);
  assert.is(fpu.fip, 0x1002);
  assert.is(fpu.regHi(fpu.phys(1)), 0xc90fdaa2);
});

test('power-on state (SDM table 9-1)', () => {
  const fpu = new X87(new ModelHost());
  assert.is(fpu.getControlWord(), 0x40);
  assert.is(fpu.getStatusWord(), 0);
  assert.is(fpu.getTagWord(), 0x5555);
  fpu.execute(0xdb, 0xe3, 0, true, false, 0, 0, 0, 0); // FNINIT
  assert.is(fpu.getControlWord(), 0x37f);
  assert.is(fpu.getTagWord(), 0xffff);
});

test.run();
