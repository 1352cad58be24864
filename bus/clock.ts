/**
 * The one time base of the machine. Every timer device (PIT, RTC, LAPIC timer, kvmclock, TSC)
 * reads guest time from here and schedules its events here.
 *
 * - `virtual`: guest time is derived from retired instructions only (deterministic).
 * - `realtime`: guest time follows the host monotonic clock.
 *
 * Time is kept in nanoseconds as a double (exact up to 2^53 ns, about 104 days).
 */
export type ClockMode = 'realtime' | 'virtual';

export class Timer {
  /** Absolute guest time in ns when the callback fires; Infinity when disarmed. */
  due = Infinity;
  constructor(private readonly clock: Clock, readonly callback: (now: number) => void, readonly name: string) {}
  /** Arm (or re-arm) at absolute guest time `dueNs`. */
  set(dueNs: number): void { this.due = dueNs; this.clock.timersChanged(); this.clock.armed(dueNs); }
  cancel(): void { this.due = Infinity; this.clock.timersChanged(); }
  get armed(): boolean { return this.due !== Infinity; }
}

export class Clock {
  readonly mode: ClockMode;
  /** Guest nanoseconds per retired instruction in virtual mode. */
  readonly nsPerInstruction: number;
  /** Frequency the guest sees for its TSC. */
  readonly tscHz: number;
  private readonly timers: Timer[] = [];
  /** Cached earliest deadline; recomputed lazily. */
  private next = Infinity;
  private dirty = false;
  /** Virtual mode: time skipped while halted; the rest comes from the instruction counter. */
  private skippedNs = 0;
  private counter: () => number = () => 0;
  private stopAt: (instructions: number) => void = () => {};
  private readonly hostStart: number;
  private readonly hostNow: () => number;

  constructor(mode: ClockMode, opts: { nsPerInstruction?: number; tscHz?: number; hostNowNs?: () => number } = {}) {
    this.mode = mode;
    this.nsPerInstruction = opts.nsPerInstruction ?? 1;
    this.tscHz = opts.tscHz ?? 1_000_000_000;
    this.hostNow = opts.hostNowNs ?? (() => performance.now() * 1e6);
    this.hostStart = mode === 'realtime' ? this.hostNow() : 0;
  }

  /** Current guest time in ns. */
  now(): number {
    return this.mode === 'virtual' ? this.skippedNs + this.counter() * this.nsPerInstruction : this.hostNow() - this.hostStart;
  }

  /** Guest TSC value (as a double; exact below 2^53). */
  tsc(): number {
    return Math.floor(this.now() * (this.tscHz / 1e9));
  }

  /**
   * Virtual mode: guest time follows this count of retired instructions (the CPU's), so a guest
   * reading the TSC in a loop sees it move within one run of the CPU. `stopAt(n)` asks the running
   * CPU to stop once n instructions have retired: a timer armed while the CPU runs fires on time,
   * whatever run length the host asked for.
   */
  attachInstructionCounter(counter: () => number, stopAt: (instructions: number) => void): void {
    this.counter = counter;
    this.stopAt = stopAt;
  }

  /** @internal A timer was armed for `dueNs`. */
  armed(dueNs: number): void {
    if (this.mode === 'virtual' && dueNs !== Infinity) this.stopAt(Math.ceil((dueNs - this.skippedNs) / this.nsPerInstruction));
  }

  /** A halted CPU jumps to `t` (virtual mode); in realtime mode the caller sleeps instead. */
  skipTo(t: number): void {
    const now = this.now();
    if (this.mode === 'virtual' && t > now && t !== Infinity) this.skippedNs += t - now;
  }

  timer(callback: (now: number) => void, name: string): Timer {
    const t = new Timer(this, callback, name);
    this.timers.push(t);
    return t;
  }

  /** @internal */
  timersChanged(): void { this.dirty = true; }

  /** Earliest armed deadline (Infinity if none). */
  nextDeadline(): number {
    if (this.dirty) {
      let n = Infinity;
      for (const t of this.timers) if (t.due < n) n = t.due;
      this.next = n;
      this.dirty = false;
    }
    return this.next;
  }

  /** Fire every timer whose deadline has passed. Callbacks may re-arm themselves. */
  runDue(): void {
    const now = this.now();
    if (this.nextDeadline() > now) return;
    for (const t of this.timers) {
      if (t.due <= now) {
        t.due = Infinity;
        this.dirty = true;
        t.callback(now);
      }
    }
  }
}
