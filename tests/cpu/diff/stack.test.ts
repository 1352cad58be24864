import { diffTest } from './check.js';
import { STACK_FORMS } from './forms-flow.js';

diffTest('stack', 'PUSH/POP (reg, imm, r/m), PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE, 16- and 32-bit', STACK_FORMS);
