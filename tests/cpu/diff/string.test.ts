import { diffTest } from './check.js';
import { STRING_FORMS } from './forms-flow.js';

diffTest('string', 'MOVS/CMPS/STOS/LODS/SCAS with REP/REPE/REPNE, DF 0/1, 8/16/32', STRING_FORMS);
