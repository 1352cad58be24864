// When the CLI starts the virtio-net worker (host/device-model.ts): for the default user network
// once the guest first halts or has frames to send, not during its boot; at once when forwarded
// ports or a capture file must exist from the start. The worker started is a real one, and its
// data path attaches to the card's control block.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SharedEventChannel } from '../../channels/index.js';
import { CB } from '../../devices/virtio-net/control-block.js';
import { TX_QUEUE } from '../../devices/virtio-net/spec.js';
import { VirtioNetWorkerStart } from '../../host/device-model.js';
import { Machine } from '../../host/machine.js';
import { defaultNetOptions, parseHostfwd, type NetOptions } from '../../host/net/index.js';
import { freePort } from '../net/ports.js';

function card() {
  const m = new Machine({ clock: 'realtime', memoryMiB: 4, sharedRam: true, virtioNet: { placement: 'remote' } });
  return m.virtioNet!.remote!;
}

async function stop(start: VirtioNetWorkerStart, remote: ReturnType<typeof card>): Promise<void> {
  await start.worker!.ready;
  assert.is(Atomics.load(new Int32Array(remote.block), CB.ATTACHED), 1, 'the data path in the worker attached to the card');
  await start.worker!.worker.terminate();
}

test('default user network: the worker starts when the guest first halts or notifies its transmit queue', async () => {
  for (const trigger of ['halt', 'transmit'] as const) {
    const remote = card();
    let failure: unknown = null;
    const start = new VirtioNetWorkerStart(remote, defaultNetOptions(), (e) => { failure = e; });
    start.poll(false);
    assert.is(start.worker, null, `${trigger}: no worker while the guest runs and sends nothing`);
    if (trigger === 'transmit') SharedEventChannel.from(remote.kick[TX_QUEUE]!).signal();
    start.poll(trigger === 'halt');
    assert.ok(start.worker, `${trigger}: started`);
    const first = start.worker;
    start.poll(true);
    assert.is(start.worker, first, 'started once');
    await stop(start, remote);
    assert.is(failure, null);
  }
});

test('forwarded ports and a capture file: the worker starts at once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts86-start-'));
  const pcap = join(dir, 'x.pcap');
  const port = await freePort();
  const options: NetOptions[] = [
    { ...defaultNetOptions(), pcap },
    { ...defaultNetOptions(), hostfwd: [parseHostfwd(`tcp:127.0.0.1:${port}-:8080`)] },
  ];
  for (const net of options) {
    const remote = card();
    const start = new VirtioNetWorkerStart(remote, net, (e) => { throw e; });
    assert.ok(start.worker, JSON.stringify(net));
    await stop(start, remote);
  }
  assert.ok(statSync(pcap).size >= 24, 'the capture file exists from the start (pcap header)');
  rmSync(dir, { recursive: true, force: true });
});

test.run();
