/**
 * Worker entry of the virtio-net data path (`--device-model worker`): rebuilds it from the
 * descriptor the Machine made (shared RAM, control block, channels), puts the configured network
 * (`createNetBackend`: --net, --hostfwd, --pcap) behind it, says `ready` (or `fatal` with the
 * reason), and serves kicks until the CPU side terminates the worker. Waiting is asynchronous
 * so the network's host sockets keep being served by this thread's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { remoteDataPath, type RemoteDataPath } from '../devices/virtio-net/index.js';
import { createNetBackend, type NetOptions } from './net/index.js';

const log = (line: string): void => parentPort?.postMessage({ log: line });
const { path, net } = workerData as { path: RemoteDataPath; net: NetOptions };

async function serve(): Promise<void> {
  let backend;
  try { backend = await createNetBackend(net, log); } catch (e) { parentPort?.postMessage({ fatal: (e as Error).message }); return; }
  const { dataPath, waitSet } = remoteDataPath(path, backend, log);
  parentPort?.postMessage({ ready: true });
  for (;;) {
    // Bounded batches: between them the event loop delivers host network traffic.
    for (let i = 0; i < 64 && dataPath.poll(); i++);
    await waitSet.waitAsync();
  }
}
// A pending Atomics.waitAsync does not keep a worker alive; the port to the CPU thread does.
parentPort?.on('message', () => {});
void serve();
