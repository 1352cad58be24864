import { F80 } from './f80.js';
export class Transcendental {
  constructor(private readonly f: F80) {}
  unary(modrm: number, d: number, s: number): boolean { void modrm; this.f.copy(d, s); return true; }
  binary(modrm: number, d: number, y: number, x: number): void { void modrm; void x; this.f.copy(d, y); }
  pair(modrm: number, d1: number, d2: number, s: number): boolean { void modrm; this.f.copy(d1, s); this.f.copy(d2, s); return true; }
}
