/**
 * The device-model worker: the virtio-net data path, rebuilt from the descriptor the CPU worker's
 * Machine made (guest RAM, control block and channels in SharedArrayBuffers), with the page's
 * network behind it. Only a cross-origin isolated page has one; otherwise the data path runs
 * inline in the CPU worker.
 */
import { remoteDataPath } from '../../devices/virtio-net/index.js';
import { createPageNetwork } from './page-network.js';
import type { FromNetWorker, ToNetWorker } from './messages.js';

declare const self: {
  onmessage: ((e: MessageEvent<ToNetWorker>) => void) | null;
  postMessage(m: FromNetWorker): void;
};

const STATS_MS = 500;
const log = (line: string) => console.warn(line);

self.onmessage = async (e) => {
  self.onmessage = null;
  const { network: net, problem } = await createPageNetwork(e.data.net, log);
  if (problem) self.postMessage({ kind: 'no-network', message: problem });
  const { dataPath, waitSet } = remoteDataPath(e.data.remote, net, log);
  setInterval(() => {
    self.postMessage({ kind: 'packets', packetsIn: net.framesIn, packetsOut: net.framesOut });
    net.framesIn = net.framesOut = 0;
  }, STATS_MS);
  for (;;) {
    // Bounded batches: between them the event loop delivers the switch's frames and the timer.
    for (let i = 0; i < 64 && dataPath.poll(); i++);
    await waitSet.waitAsync();
  }
};
