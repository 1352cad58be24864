// Runs the configured network (createNetBackend) inside a worker_threads Worker: frames arrive by
// message and replies go back the same way (the options came through workerData).
import { parentPort, workerData } from 'node:worker_threads';
import { createNetBackend, type NetOptions } from '../../host/net/index.js';

const net = await createNetBackend(workerData as NetOptions);
net.onReceive = (f) => parentPort!.postMessage(f.slice());
parentPort!.on('message', (m: Uint8Array | 'close') => {
  if (m === 'close') { net.close(); parentPort!.close(); return; }
  net.send(m);
});
parentPort!.postMessage('ready');
