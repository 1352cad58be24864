import { diffTest } from './check.js';
import { FAULT_FORMS } from './forms-flow.js';

diffTest('fault', 'UD2, INTO, INT3, BOUND (#BR), LOCK (lockable forms and #UD)', FAULT_FORMS);
