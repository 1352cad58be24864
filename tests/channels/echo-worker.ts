// Worker side of the channel tests: waits (blocking) on `req`, answers each batch on `resp` with
// the count it read plus 1000, until `stop` is signalled. Only descriptors cross postMessage.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedEventChannel, WaitSet, type ChannelDescriptor } from '../../channels/event-channel.js';

// uvu imports every file of the folder; only a Worker started by the tests runs the loop.
if (parentPort && workerData) run(workerData as { req: ChannelDescriptor; resp: ChannelDescriptor; stop: ChannelDescriptor });

function run(d: { req: ChannelDescriptor; resp: ChannelDescriptor; stop: ChannelDescriptor }): void {
  const req = SharedEventChannel.from(d.req), resp = SharedEventChannel.from(d.resp), stop = SharedEventChannel.from(d.stop);
  const ws = new WaitSet([req, stop]);
  let total = 0;
  parentPort!.postMessage('ready');
  for (;;) {
    ws.wait();
    const n = req.read();
    if (n) { total += n; resp.signal(1000 + n); }
    if (stop.read()) break;
  }
  parentPort!.postMessage({ total });
}
