/** Every form of the differential test, by class (the coverage check walks them all). */
import type { Form } from './form.js';
import { ALU_FORMS, INCDEC_FORMS, MULDIV_FORMS, TEST_FORMS } from './forms-alu.js';
import { BRANCH_FORMS, FAULT_FORMS, STACK_FORMS, STRING_FORMS } from './forms-flow.js';
import { BCD_FORMS, MOVE_FORMS } from './forms-move.js';
import { BIT_FORMS, SHIFT_FORMS, SHXD_FORMS } from './forms-shift.js';

export const CLASSES: Record<string, Form[]> = {
  alu: ALU_FORMS, unary: [...INCDEC_FORMS, ...TEST_FORMS], muldiv: MULDIV_FORMS, shift: [...SHIFT_FORMS, ...SHXD_FORMS],
  bit: BIT_FORMS, move: MOVE_FORMS, bcd: BCD_FORMS, stack: STACK_FORMS, branch: BRANCH_FORMS, string: STRING_FORMS, fault: FAULT_FORMS,
};
