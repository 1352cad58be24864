import { diffTest } from './check.js';
import { BCD_FORMS } from './forms-move.js';

diffTest('bcd', 'DAA DAS AAA AAS AAM AAD (AAM 0 -> #DE, other bases)', BCD_FORMS);
