/**
 * Starts device-model data paths in worker_threads (Node only): the Machine describes them, this
 * places them. The bundled CLI finds the worker bundle next to itself; under tsx (tests) the
 * TypeScript entry is loaded with tsx's hooks registered in the worker.
 */
import type { Worker } from 'node:worker_threads';
import { builtin } from './builtin.js';
import { SharedEventChannel, type EventChannel } from '../channels/index.js';
import type { RemoteDataPath } from '../devices/virtio-net/index.js';
import { TX_QUEUE } from '../devices/virtio-net/spec.js';
import type { NetOptions } from './net/index.js';

export interface DataPathWorker {
  worker: Worker;
  /** Settles when the worker's network is up, or rejects with the one-line reason it is not. */
  ready: Promise<void>;
}

const workerThreads = builtin<typeof import('node:worker_threads')>('node:worker_threads');

export function startVirtioNetWorker(remote: RemoteDataPath, net: NetOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): DataPathWorker {
  const bundled = import.meta.url.endsWith('.mjs');
  const entry = new URL(bundled ? './virtio-net-worker.mjs' : './virtio-net-worker.ts', import.meta.url);
  const { Worker } = workerThreads();
  const w = bundled
    ? new Worker(entry, { workerData: { path: remote, net } })
    : new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true, workerData: { path: remote, net } });
  const ready = new Promise<void>((resolve, reject) => {
    w.on('message', (m: { log?: string; ready?: true; fatal?: string }) => {
      if (m.log) log(m.log);
      if (m.ready) resolve();
      if (m.fatal) reject(new Error(m.fatal));
    });
    w.on('error', (e) => { log(`ts86: virtio-net worker failed: ${e.message}`); reject(e); });
  });
  // The CPU side decides when the machine ends; once running, an idle worker must not keep the
  // process up (until then the process waits for its answer).
  ready.then(() => w.unref(), () => {});
  return { worker: w, ready };
}

/**
 * The virtio-net worker of a CLI run, started when it is first needed. The default user network
 * holds nothing on the host until the guest sends, so its worker starts when the guest first halts
 * (booted and waiting) or first notifies its transmit queue, whichever comes first; until then
 * resets complete without it and the queues' notifications wait in their channels. A worker
 * starting during the boot cost it ~25 ms: its start-up takes ~60 ms of the CPU that V8's
 * optimizing compiler uses for the interpreter then. Forwarded ports, a capture file and a switch
 * connection are set up at once, as asked.
 */
export class VirtioNetWorkerStart {
  worker: DataPathWorker | null = null;
  private readonly txKick: EventChannel | null;

  constructor(private readonly remote: RemoteDataPath, private readonly net: NetOptions, private readonly onFailure: (e: unknown) => void) {
    const deferred = net.net === 'user' && net.hostfwd.length === 0 && net.pcap === undefined;
    this.txKick = deferred ? SharedEventChannel.from(remote.kick[TX_QUEUE]!) : null;
    if (!deferred) this.start();
  }

  /** After each run slice: starts a deferred worker once the guest halted or has frames to send. */
  poll(idle: boolean): void {
    if (this.worker === null && (idle || this.txKick!.pending)) this.start();
  }

  private start(): void {
    this.worker = startVirtioNetWorker(this.remote, this.net);
    this.worker.ready.catch(this.onFailure);
  }
}
