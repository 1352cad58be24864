import { diffTest } from './check.js';
import { ALU_FORMS } from './forms-alu.js';

diffTest('alu', 'ADD/OR/ADC/SBB/AND/SUB/XOR/CMP (00-3F, 80-83), 8/16/32-bit, register and memory', ALU_FORMS);
