/**
 * host/net's public surface: the configured NetBackend for a network card, from serialisable
 * options. Node only (sockets, ws, files); a browser page builds UserNetwork or WsBackend itself.
 */
import type { NetBackend } from '../../devices/net-backend.js';
import type { LogSink } from '../../bus/pci/guest-log.js';
import { UserNetwork } from './user-network.js';
import { nodeProvider } from './node-provider.js';
import { WsBackend, type WebSocketCtor } from './ws-client.js';
import { captureToFile } from './pcap-file.js';
import { checkNetOptions, type NetOptions } from './options.js';

export { defaultNetOptions, parseHostfwd, parseNet, checkNetOptions, type NetOptions } from './options.js';

/**
 * Builds the backend the options describe: the user network with its forwards listening, or a
 * connected switch client, wrapped in a capture with --pcap. Rejects with one readable line
 * (a busy forward port, an unreachable switch, an unwritable capture file).
 */
export async function createNetBackend(o: NetOptions, log?: LogSink): Promise<NetBackend> {
  checkNetOptions(o);
  let backend: NetBackend;
  if (o.net === 'user') {
    const net = new UserNetwork({ provider: nodeProvider, log });
    try { await net.start(o.hostfwd); } catch (e) { net.close(); throw new Error(`--hostfwd: ${(e as Error).message}`); }
    backend = net;
  } else {
    // Loaded here: every ts86 start would otherwise pay for `ws`, which only --net ws:// uses.
    const { default: WebSocket } = await import('ws');
    backend = await WsBackend.connect(o.net, WebSocket as unknown as WebSocketCtor, log);
  }
  if (o.pcap) {
    try { backend = captureToFile(backend, o.pcap); } catch (e) { backend.close(); throw e; }
  }
  return backend;
}
