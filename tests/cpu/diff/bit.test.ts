import { diffTest } from './check.js';
import { BIT_FORMS } from './forms-shift.js';

diffTest('bit', 'BT/BTS/BTR/BTC (register offsets reaching outside the dword, imm8), BSF/BSR, BSWAP', BIT_FORMS);
