/**
 * Rate-limited diagnostics for guest mistakes. A guest can write bad values in a loop, so each
 * source prints at most `burst` lines, then one line saying the rest are suppressed.
 */
export type LogSink = (line: string) => void;

export class GuestLog {
  private printed = 0;
  private suppressed = 0;

  constructor(private readonly source: string, private readonly sink: LogSink = (l) => console.warn(l), private readonly burst = 16) {}

  warn(message: string): void {
    if (this.printed < this.burst) {
      this.printed++;
      this.sink(`${this.source}: ${message}`);
    } else if (this.suppressed++ === 0) {
      this.sink(`${this.source}: further guest errors suppressed`);
    }
  }

  /** Lines not printed because of the limit. */
  get dropped(): number { return this.suppressed; }
}
