import { diffTest } from './check.js';
import { MULDIV_FORMS } from './forms-alu.js';

diffTest('muldiv', 'MUL/IMUL/DIV/IDIV (F6/F7 /4-/7, 0F AF, 69, 6B) including #DE', MULDIV_FORMS);
