import { diffTest } from './check.js';
import { BRANCH_FORMS } from './forms-flow.js';

diffTest('branch', 'Jcc/JMP/CALL/RET/LOOPcc/JECXZ, taken and not taken', BRANCH_FORMS);
