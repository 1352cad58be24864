/**
 * Consumption of channels on the CPU thread. An in-thread channel dispatches synchronously from
 * `signal()`; a shared one (signalled by a worker) is read by `poll()`, which the run loop calls
 * at every run slice and when the idle wait on `waitSet` wakes. Each attached channel has one
 * consumer, like an eventfd with one reader.
 */
import { LocalEventChannel, SharedEventChannel, WaitSet, type EventChannel } from './event-channel.js';

export type ChannelConsumer = (count: number) => void;

export class Injector {
  /** Every attached shared channel: what a halted CPU waits on (with its next timer as timeout). */
  readonly waitSet = new WaitSet();
  private readonly polled: { channel: SharedEventChannel; fn: ChannelConsumer }[] = [];

  /** Consume `channel` with `fn(count)`. Returns the detach function. */
  attach(channel: EventChannel, fn: ChannelConsumer): () => void {
    if (channel instanceof LocalEventChannel) {
      if (channel.onSignal) throw new Error('channel already has a consumer');
      const run = (): void => { const n = channel.read(); if (n) fn(n); };
      channel.onSignal = run;
      run(); // signals that arrived before the attach
      return () => { if (channel.onSignal === run) channel.onSignal = null; };
    }
    if (!(channel instanceof SharedEventChannel)) throw new TypeError('Injector takes LocalEventChannel or SharedEventChannel');
    if (this.polled.some((p) => p.channel.space.sameAs(channel.space) && p.channel.slot === channel.slot)) throw new Error('channel already has a consumer');
    const entry = { channel, fn };
    this.polled.push(entry);
    this.waitSet.add(channel);
    return () => {
      const i = this.polled.indexOf(entry);
      if (i < 0) return;
      this.polled.splice(i, 1);
      this.waitSet.remove(channel);
    };
  }

  /** Consume every pending shared channel; true if any consumer ran. */
  poll(): boolean {
    let any = false;
    const p = this.polled;
    for (let i = 0; i < p.length; i++) {
      const e = p[i]!;
      if (!e.channel.pending) continue;
      const n = e.channel.read();
      if (n) { any = true; e.fn(n); }
    }
    return any;
  }
}
