import { diffTest } from './check.js';
import { SHIFT_FORMS, SHXD_FORMS } from './forms-shift.js';

diffTest('shift', 'shifts and rotates C0/C1/D0-D3 /0-/7, SHLD/SHRD', [...SHIFT_FORMS, ...SHXD_FORMS]);
