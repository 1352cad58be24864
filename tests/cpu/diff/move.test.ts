import { diffTest } from './check.js';
import { MOVE_FORMS } from './forms-move.js';

diffTest('move', 'MOV, XCHG, MOVZX/MOVSX, LEA, CBW..CDQ, LAHF/SAHF, flag ops, NOPs, XLAT, CMOVcc, SETcc, CMPXCHG(8B), XADD', MOVE_FORMS);
