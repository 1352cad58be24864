/**
 * The network behind the page's card: the user-mode network (gateway 10.0.2.2 with ARP, ping,
 * DHCP and DNS; a page has no host sockets to reach further) or a `ts86 switch` over the browser's
 * WebSocket. Built in whichever worker runs the card's data path, with a frame counter around it.
 */
import type { NetBackend } from '../../devices/net-backend.js';
import { UserNetwork } from '../net/user-network.js';
import { WsBackend, type WebSocketCtor } from '../net/ws-client.js';
import { PacketCounter } from './packet-counter.js';

/** 'user' or a ws:// / wss:// URL; null when the text is neither. */
export function checkNetSpec(net: string): string | null {
  return net === 'user' || /^wss?:\/\/[^\s/]+/.test(net) ? null : `net=${net}: use "user" or a ts86 switch URL (ws://HOST:PORT)`;
}

/** A card with no cable: what the guest sends goes nowhere. */
const unplugged = (): NetBackend => ({ onReceive: null, send() {}, close() {} });

/**
 * The network for `net`, counted; when the switch cannot be reached, an unplugged one and the
 * reason (the guest boots all the same, as a machine with its cable out does).
 */
export async function createPageNetwork(net: string, log: (line: string) => void): Promise<{ network: PacketCounter; problem: string | null }> {
  if (net === 'user') return { network: new PacketCounter(new UserNetwork({ log })), problem: null };
  try {
    return { network: new PacketCounter(await WsBackend.connect(net, WebSocket as unknown as WebSocketCtor, log)), problem: null };
  } catch (e) {
    return { network: new PacketCounter(unplugged()), problem: (e as Error).message };
  }
}
