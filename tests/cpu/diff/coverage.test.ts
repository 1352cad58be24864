/** Every integer opcode the decoder lists as implemented must be exercised by some form. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { implementedOpcodes } from '../../../cpu/index.js';
import { CLASSES } from './all-forms.js';
import { generate } from './check.js';
import { hex } from './gen.js';

const { oneByte: IMPLEMENTED_ONE_BYTE, twoByte: IMPLEMENTED_TWO_BYTE } = implementedOpcodes();

const SEGMENTS = 'segment selectors differ between native ring 3 and ts86 flat ring 0 (protection tests cover them)';
const PRIVILEGED = 'privileged or I/O at ring 3 natively (#GP); covered by the bare-metal system tests';
/** Implemented opcodes outside this test, and why. */
const EXCLUDED_ONE: Record<number, string> = {
  0x06: SEGMENTS, 0x07: SEGMENTS, 0x0e: SEGMENTS, 0x16: SEGMENTS, 0x17: SEGMENTS, 0x1e: SEGMENTS, 0x1f: SEGMENTS,
  0x8c: SEGMENTS, 0x8e: SEGMENTS, 0x9a: SEGMENTS, 0xc4: SEGMENTS, 0xc5: SEGMENTS, 0xca: SEGMENTS, 0xcb: SEGMENTS,
  0xcf: SEGMENTS, 0xea: SEGMENTS,
  0x6c: PRIVILEGED, 0x6d: PRIVILEGED, 0x6e: PRIVILEGED, 0x6f: PRIVILEGED, 0xe4: PRIVILEGED, 0xe5: PRIVILEGED,
  0xe6: PRIVILEGED, 0xe7: PRIVILEGED, 0xec: PRIVILEGED, 0xed: PRIVILEGED, 0xee: PRIVILEGED, 0xef: PRIVILEGED,
  0xf4: PRIVILEGED, 0xfa: PRIVILEGED, 0xfb: PRIVILEGED,
  0xcd: 'INT n is a system call or #GP natively; interrupt delivery is a system test',
  0xf1: 'ICEBP (#DB) is debug machinery, a system test',
  ...Object.fromEntries([0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf].map((b) => [b, 'x87, tested at the FPU class level'])),
};
const EXCLUDED_TWO: Record<number, string> = {
  0x00: PRIVILEGED, 0x01: PRIVILEGED, 0x02: SEGMENTS, 0x03: SEGMENTS, 0x06: PRIVILEGED, 0x08: PRIVILEGED, 0x09: PRIVILEGED,
  0x20: PRIVILEGED, 0x21: PRIVILEGED, 0x22: PRIVILEGED, 0x23: PRIVILEGED, 0x30: PRIVILEGED, 0x32: PRIVILEGED,
  0x31: 'RDTSC values differ by design', 0x33: 'RDPMC: no counters in ts86, host counters natively',
  0x34: 'SYSENTER: system test', 0x35: 'SYSEXIT: system test', 0xa2: 'CPUID describes a different CPU by design',
  0xa0: SEGMENTS, 0xa1: SEGMENTS, 0xa8: SEGMENTS, 0xa9: SEGMENTS, 0xb2: SEGMENTS, 0xb4: SEGMENTS, 0xb5: SEGMENTS,
  0xae: 'FXSAVE/FXRSTOR/fences: x87/SSE state, tested at the FPU class level',
};

test('every implemented integer opcode is covered by the differential test', () => {
  const one = new Set<number>(), two = new Set<number>(), keys = new Set<string>();
  for (const forms of Object.values(CLASSES)) {
    for (const { g } of generate(forms, 1, false)) {
      for (const k of g.keys) {
        keys.add(k);
        const [a, b] = k.split(/[ /]/).map((x) => parseInt(x, 16));
        if (a === 0x0f) two.add(b!); else one.add(a!);
      }
    }
  }
  const missing = [
    ...IMPLEMENTED_ONE_BYTE.filter((b) => !one.has(b) && !(b in EXCLUDED_ONE)).map((b) => hex(b, 2)),
    ...IMPLEMENTED_TWO_BYTE.filter((b) => !two.has(b) && !(b in EXCLUDED_TWO)).map((b) => `0f ${hex(b, 2)}`),
  ];
  console.log(`[coverage] ${keys.size} opcode forms covered: ${[...keys].sort().join(' ')}`);
  const excl = [...IMPLEMENTED_ONE_BYTE.filter((b) => b in EXCLUDED_ONE).map((b) => hex(b, 2)), ...IMPLEMENTED_TWO_BYTE.filter((b) => b in EXCLUDED_TWO).map((b) => `0f ${hex(b, 2)}`)];
  console.log(`[coverage] implemented but left to other tests: ${excl.join(' ')}`);
  assert.equal(missing, [], `implemented opcodes no form exercises: ${missing.join(' ')}`);
});

test.run();
