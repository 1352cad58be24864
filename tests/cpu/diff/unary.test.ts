import { diffTest } from './check.js';
import { INCDEC_FORMS, TEST_FORMS } from './forms-alu.js';

diffTest('unary', 'INC/DEC (40-4F, FE, FF), NOT/NEG, TEST (84/85, A8/A9, F6/F7 /0 /1)', [...INCDEC_FORMS, ...TEST_FORMS]);
