/**
 * Eventfd-like channels: the only path between the CPU side and device models' data paths.
 *
 * A channel is a counter: `signal(n)` adds, `read()` returns the count and resets it to 0. Two
 * backings with the same surface, so code above a channel never knows which it has:
 *
 * - `LocalEventChannel`: a plain number in one thread. `onSignal` runs synchronously inside
 *   `signal()`; inline device models and the deterministic (virtual clock) mode dispatch this way.
 * - `SharedEventChannel`: a 32-bit slot of a `ChannelSpace` (one SharedArrayBuffer, many slots)
 *   updated with Atomics, usable from any worker. A channel travels through postMessage as a
 *   plain `{ sab, slot }` descriptor.
 *
 * `WaitSet` is the epoll of the fabric: wait until any of its channels is pending, blocking
 * (`wait`, Atomics.wait: workers and Node's main thread) or asynchronously (`waitAsync`).
 *
 * Waking: each space has a sequence word bumped and notified on every signal of any of its
 * channels. A waiter snapshots it, checks its channels, and sleeps on it. Waiters on unrelated
 * channels of the same space wake spuriously and go back to sleep; in exchange a wait on many
 * channels is one Atomics.wait. Counters wrap at 2^32 (a reader that never reads is a bug).
 */

export interface EventChannel {
  /** counter += n (default 1), wakes waiters. */
  signal(n?: number): void;
  /** Returns the counter and resets it to 0 (non-blocking, 0 when idle). */
  read(): number;
  /** counter != 0, not consumed. */
  readonly pending: boolean;
}

export class LocalEventChannel implements EventChannel {
  /** Called synchronously inside `signal()` (in-thread dispatch). */
  onSignal: (() => void) | null = null;
  private count = 0;
  /** Async WaitSet waiters currently parked on this channel. */
  private waiters: (() => void)[] = [];

  signal(n = 1): void {
    this.count = (this.count + n) >>> 0;
    if (this.waiters.length) for (const w of this.waiters.slice()) w();
    this.onSignal?.();
  }

  read(): number {
    const c = this.count;
    this.count = 0;
    return c;
  }

  get pending(): boolean { return this.count !== 0; }

  /** @internal WaitSet */
  addWaiter(w: () => void): void { this.waiters.push(w); }

  /** @internal WaitSet */
  removeWaiter(w: () => void): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}

/** What crosses postMessage: the space's buffer and the slot. */
export interface ChannelDescriptor { sab: SharedArrayBuffer; slot: number }

// Header words of a ChannelSpace.
const SEQ = 0, ID_LO = 1, ID_HI = 2, NEXT = 3, HEADER = 4;

/**
 * One SharedArrayBuffer holding many channel slots. Any thread holding the buffer may allocate
 * (the free-slot index is updated atomically). Slots are never freed: a device allocates its
 * channels once and re-plumbs bindings, not channels.
 */
export class ChannelSpace {
  readonly sab: SharedArrayBuffer;
  /** @internal */
  readonly words: Int32Array;
  private static readonly views = new WeakMap<SharedArrayBuffer, ChannelSpace>();

  /** A new space of `capacity` channels, or (given a buffer) the view of an existing one. */
  constructor(capacity: number | SharedArrayBuffer = 256) {
    if (typeof capacity !== 'number') {
      const sab = capacity;
      if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < (HEADER + 1) * 4 || sab.byteLength % 4) throw new TypeError('not a channel space buffer');
      this.sab = sab;
      this.words = new Int32Array(sab);
      return;
    }
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 20) throw new RangeError(`channel space capacity ${capacity} must be 1 – 1048576`);
    this.sab = new SharedArrayBuffer((HEADER + capacity) * 4);
    this.words = new Int32Array(this.sab);
    // A random id tells whether two buffers received in different messages are the same space.
    this.words[ID_LO] = (Math.random() * 0x100000000) | 0;
    this.words[ID_HI] = (Math.random() * 0x100000000) | 0;
    this.words[NEXT] = HEADER;
    ChannelSpace.views.set(this.sab, this);
  }

  /** The space of a buffer (one view per buffer object in this thread). */
  static of(sab: SharedArrayBuffer): ChannelSpace {
    let s = ChannelSpace.views.get(sab);
    if (!s) { s = new ChannelSpace(sab); ChannelSpace.views.set(sab, s); }
    return s;
  }

  get capacity(): number { return this.words.length - HEADER; }

  /** Allocate a channel; throws when the space is full. */
  alloc(): SharedEventChannel {
    const slot = Atomics.add(this.words, NEXT, 1);
    if (slot >= this.words.length) {
      Atomics.sub(this.words, NEXT, 1);
      throw new RangeError(`channel space full (${this.capacity} channels)`);
    }
    return new SharedEventChannel(this, slot);
  }

  /** Same underlying memory (also for buffers that arrived in separate messages)? */
  sameAs(other: ChannelSpace): boolean {
    return other === this || (other.words[ID_LO] === this.words[ID_LO] && other.words[ID_HI] === this.words[ID_HI] && other.sab.byteLength === this.sab.byteLength);
  }

  /** @internal Wake every waiter of this space (they re-check their channels). */
  kick(): void {
    Atomics.add(this.words, SEQ, 1);
    Atomics.notify(this.words, SEQ);
  }
}

export class SharedEventChannel implements EventChannel {
  /** @internal */
  constructor(readonly space: ChannelSpace, readonly slot: number) {}

  /** Rebuild a channel from its descriptor (e.g. in a worker). */
  static from(d: ChannelDescriptor): SharedEventChannel {
    if (!d || typeof d !== 'object') throw new TypeError('not a channel descriptor');
    const space = ChannelSpace.of(d.sab);
    if (!Number.isInteger(d.slot) || d.slot < HEADER || d.slot >= space.words.length) throw new RangeError(`channel slot ${d.slot} out of range`);
    return new SharedEventChannel(space, d.slot);
  }

  signal(n = 1): void {
    Atomics.add(this.space.words, this.slot, n);
    this.space.kick();
  }

  read(): number { return Atomics.exchange(this.space.words, this.slot, 0) >>> 0; }

  get pending(): boolean { return Atomics.load(this.space.words, this.slot) !== 0; }

  get descriptor(): ChannelDescriptor { return { sab: this.space.sab, slot: this.slot }; }
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult;
/** Looked up when first needed: V8 has no Atomics while it builds the CLI's startup snapshot. */
const atomicsWaitAsync = (): WaitAsync | undefined => (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

/**
 * Wait for any of a set of channels (epoll-like). Readiness only: the caller reads the channels.
 * Shared channels must all come from one ChannelSpace.
 */
export class WaitSet {
  private readonly locals: LocalEventChannel[] = [];
  private readonly shared: SharedEventChannel[] = [];
  private space: ChannelSpace | null = null;

  constructor(channels: Iterable<EventChannel> = []) {
    for (const c of channels) this.add(c);
  }

  add(c: EventChannel): void {
    if (c instanceof LocalEventChannel) { if (!this.locals.includes(c)) this.locals.push(c); return; }
    if (!(c instanceof SharedEventChannel)) throw new TypeError('WaitSet takes LocalEventChannel or SharedEventChannel');
    if (this.space && !this.space.sameAs(c.space)) throw new Error('a WaitSet waits on shared channels of one ChannelSpace');
    this.space ??= c.space;
    if (!this.shared.some((s) => s.slot === c.slot)) this.shared.push(c);
  }

  remove(c: EventChannel): void {
    const l = c instanceof LocalEventChannel ? this.locals : this.shared as EventChannel[];
    const i = c instanceof SharedEventChannel ? this.shared.findIndex((s) => s.slot === c.slot) : l.indexOf(c);
    if (i >= 0) l.splice(i, 1);
    if (this.shared.length === 0) this.space = null;
  }

  /** Is any channel pending now? */
  get pending(): boolean {
    for (const c of this.locals) if (c.pending) return true;
    for (const c of this.shared) if (c.pending) return true;
    return false;
  }

  /**
   * Block until a channel is pending or `timeoutMs` passes; returns whether one is pending.
   * In-thread channels cannot be signalled while this thread blocks: they are only checked.
   */
  wait(timeoutMs = Infinity): boolean {
    const deadline = performance.now() + timeoutMs;
    const words = this.space?.words ?? new Int32Array(new SharedArrayBuffer(4));
    for (;;) {
      const seq = Atomics.load(words, SEQ);
      if (this.pending) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(words, SEQ, seq, left);
    }
  }

  /** Resolve with true as soon as a channel is pending, false after `timeoutMs`. */
  waitAsync(timeoutMs = Infinity): Promise<boolean> {
    if (this.pending) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let parked = false;
      const finish = (r: boolean, release: boolean): void => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        for (const c of this.locals) c.removeWaiter(onLocal);
        // Woken by a local channel: release our Atomics.waitAsync rather than leave it parked
        // until the next signal (on a timeout it expires by itself at the same deadline).
        if (release && parked) this.space!.kick();
        resolve(r);
      };
      const onLocal = (): void => finish(true, true);
      for (const c of this.locals) c.addWaiter(onLocal);
      if (timeoutMs !== Infinity) timer = setTimeout(() => finish(this.pending, false), timeoutMs);
      const space = this.space;
      if (!space) return;
      const deadline = performance.now() + timeoutMs;
      const park = (): void => {
        for (;;) {
          if (done) return;
          const seq = Atomics.load(space.words, SEQ);
          if (this.pending) { finish(true, false); return; }
          const waitAsync = atomicsWaitAsync();
          if (!waitAsync) { setTimeout(park, 1); return; } // engines without waitAsync: poll
          const r = waitAsync.call(Atomics, space.words, SEQ, seq, Math.max(0, deadline - performance.now()));
          if (!r.async) { if (r.value === 'timed-out') return; continue; }
          parked = true;
          void r.value.then(() => { parked = false; park(); });
          return;
        }
      };
      park();
    });
  }
}
