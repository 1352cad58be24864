/**
 * System control port A (0x92: bit 0 fast reset on a 0->1 write, bit 1 A20) and port 0x80, the
 * POST code / I/O delay port (an unused DMA page register on the AT, so it reads back).
 */
import type { IoBus } from '../bus/io.js';
import type { A20Gate } from './a20.js';
import { bytewise } from './bytewise.js';

export class Port92 {
  private value = 0;

  constructor(io: IoBus, private readonly opts: { onReset: () => void; a20?: A20Gate }) {
    io.register(0x92, 1, bytewise((p) => (p === 0x92 ? this.value : 0xff), (p, v) => { if (p === 0x92) this.write(v); }), 'port92');
  }

  private write(v: number): void {
    const old = this.value;
    this.value = v;
    this.opts.a20?.set('port92', (v & 2) !== 0);
    if ((v & 1) && !(old & 1)) this.opts.onReset();
  }
}

export class PostPort {
  private last = 0;

  constructor(io: IoBus, onPostCode: (code: number) => void = () => {}) {
    io.register(0x80, 1, bytewise((p) => (p === 0x80 ? this.last : 0xff), (p, v) => {
      if (p === 0x80) { this.last = v; onPostCode(v); }
    }), 'post');
  }
}
