/**
 * Hypercall channel: VMCALL with a dynamically assigned number (>= 0x10000, from
 * KvmParavirt.registerHypercall) signals a channel and returns EAX = 0 at once. The argument
 * registers EBX, ECX, EDX, ESI of the latest call are stored in `args`, in shared memory when
 * the channel is shared so a worker can read them (after reading the channel: the signal's
 * Atomics update orders the stores before it). Calls coalesce like any eventfd signal; KVM's own
 * numbers and unknown numbers are untouched (KvmParavirt answers them).
 */
import type { KvmParavirt } from '../devices/kvm-paravirt.js';
import { SharedEventChannel, type EventChannel } from './event-channel.js';

/** What a worker needs to consume a shared hypercall channel (structured-cloneable). */
export interface HypercallDescriptor { nr: number; channel: { sab: SharedArrayBuffer; slot: number }; args: SharedArrayBuffer }

export class HypercallChannel {
  /** The number the guest puts in EAX; advertise it to the guest (e.g. in a vendor capability). */
  readonly nr: number;
  /** EBX, ECX, EDX, ESI of the latest call. */
  readonly args: Uint32Array;
  /** Calls so far (host-side statistics). */
  calls = 0;
  private readonly kvm: KvmParavirt;

  constructor(kvm: KvmParavirt, readonly channel: EventChannel, name: string) {
    this.kvm = kvm;
    this.args = new Uint32Array(channel instanceof SharedEventChannel ? new SharedArrayBuffer(16) : new ArrayBuffer(16));
    const a = this.args;
    this.nr = kvm.registerHypercall((a0, a1, a2, a3) => {
      a[0] = a0; a[1] = a1; a[2] = a2; a[3] = a3;
      this.calls++;
      channel.signal();
      return 0;
    }, name);
  }

  get descriptor(): HypercallDescriptor {
    if (!(this.channel instanceof SharedEventChannel)) throw new TypeError('only a shared hypercall channel can be described for another thread');
    return { nr: this.nr, channel: this.channel.descriptor, args: this.args.buffer as SharedArrayBuffer };
  }

  /** Unbind: the number then answers -KVM_ENOSYS like any unknown one. */
  close(): void { this.kvm.unregisterHypercall(this.nr); }
}
