/**
 * Starts device-model data paths in worker_threads (Node only): the Machine describes them, this
 * places them. The bundled CLI finds the worker bundle next to itself; under tsx (tests) the
 * TypeScript entry is loaded with tsx's hooks registered in the worker.
 */
import { Worker } from 'node:worker_threads';
import type { RemoteDataPath } from '../devices/virtio-net/index.js';

export function startVirtioNetWorker(remote: RemoteDataPath, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Worker {
  const bundled = import.meta.url.endsWith('.mjs');
  const entry = new URL(bundled ? './virtio-net-worker.mjs' : './virtio-net-worker.ts', import.meta.url);
  const w = bundled
    ? new Worker(entry, { workerData: remote })
    : new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true, workerData: remote });
  w.on('message', (m: { log?: string }) => { if (m.log) log(m.log); });
  w.on('error', (e) => log(`ts86: virtio-net worker failed: ${e.message}`));
  // The CPU side decides when the machine ends; an idle worker must not keep the process up.
  w.unref();
  return w;
}
