/**
 * `ts86 switch`: a learning Ethernet switch on WebSocket (one binary message = one Ethernet frame,
 * as v86's relay), optionally with the user-mode network as one more port (`--nat`). Each port
 * has counters and a bounded send queue (frames are dropped, never queued without bound, for a
 * client that stalls); junk (text, runts, oversized frames) is dropped and counted; clients that
 * vanish are noticed by heartbeat and their MACs forgotten. The MAC table is bounded.
 */
import type { WebSocketServer, WebSocket } from 'ws';
import type { LogSink } from '../../bus/pci/guest-log.js';
import { ETH_HLEN } from './packet.js';
import { MAX_SWITCH_FRAME } from './ws-client.js';
import type { NetBackend } from '../../devices/net-backend.js';

/** Bytes a client may have waiting in its socket before frames for it are dropped. */
const PORT_QUEUE_BYTES = 512 * 1024;
const MAX_MACS = 4096;
const MAC_AGE_MS = 300_000;
const HEARTBEAT_MS = 15_000;

export interface PortCounters { rxFrames: number; txFrames: number; dropQueueFull: number; dropJunk: number }

export interface SwitchPort {
  readonly id: number;
  readonly name: string;
  readonly counters: PortCounters;
}

interface Port extends SwitchPort {
  deliver(frame: Uint8Array): void;
  close(): void;
}

export interface SwitchOptions {
  port: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** A user-mode network to attach as a port (`--nat`). */
  nat?: NetBackend;
  log?: LogSink;
}

export class EthernetSwitch {
  private readonly ports = new Map<number, Port>();
  /** MAC (as a 48-bit number) -> port and when it was last seen; Map order is least recently seen first. */
  private readonly macs = new Map<number, { port: Port; seen: number }>();
  private nextId = 1;
  private heartbeat: ReturnType<typeof setInterval> | null = null;

  private constructor(private readonly server: WebSocketServer, private readonly log: LogSink) {}

  /** Listens; rejects with a readable line (port in use, bad address). */
  static async start(o: SwitchOptions): Promise<EthernetSwitch> {
    const log = o.log ?? ((l: string) => console.error(l));
    // Loaded here so that a plain `ts86` start does not load `ws` for the switch it never runs.
    const { WebSocketServer } = await import('ws');
    return new Promise((resolve, reject) => {
      const server = new WebSocketServer({ host: o.host ?? '127.0.0.1', port: o.port, maxPayload: 64 * 1024 });
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`switch: cannot listen on ${o.host ?? '127.0.0.1'}:${o.port}: ${e.code ?? e.message}`)));
      server.once('listening', () => {
        const sw = new EthernetSwitch(server, log);
        server.on('error', (e) => log(`ts86 switch: ${e.message}`));
        server.on('connection', (ws, req) => sw.attachSocket(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
        if (o.nat) sw.attachBackend(o.nat, 'nat');
        sw.heartbeat = setInterval(() => sw.beat(), HEARTBEAT_MS);
        sw.heartbeat.unref();
        resolve(sw);
      });
    });
  }

  get port(): number { return (this.server.address() as { port: number }).port; }
  get portList(): SwitchPort[] { return [...this.ports.values()]; }

  close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const p of this.ports.values()) p.close();
    this.ports.clear();
    return new Promise((r) => this.server.close(() => r()));
  }

  /** Attaches an in-process backend (the NAT gateway) as a port. */
  attachBackend(b: NetBackend, name: string): SwitchPort {
    const port: Port = {
      id: this.nextId++, name, counters: newCounters(),
      deliver: (f) => { port.counters.txFrames++; b.send(f); },
      close: () => b.close(),
    };
    b.onReceive = (f) => this.input(port, f);
    this.ports.set(port.id, port);
    return port;
  }

  private attachSocket(ws: WebSocket, name: string): void {
    let alive = true;
    const port: Port & { ping(): void } = {
      id: this.nextId++, name, counters: newCounters(),
      deliver: (f) => {
        if (ws.readyState !== ws.OPEN || ws.bufferedAmount > PORT_QUEUE_BYTES) { port.counters.dropQueueFull++; return; }
        port.counters.txFrames++;
        ws.send(f.slice(), { binary: true }); // the socket holds the bytes past this call
      },
      close: () => ws.terminate(),
      ping: () => {
        if (!alive) { ws.terminate(); return; }
        alive = false;
        ws.ping();
      },
    };
    this.ports.set(port.id, port);
    this.log(`ts86 switch: port ${port.id} joined from ${name}`);
    ws.on('pong', () => { alive = true; });
    ws.on('message', (data, isBinary) => {
      alive = true;
      if (!isBinary || !(data instanceof Buffer)) { port.counters.dropJunk++; return; }
      this.input(port, data);
    });
    ws.on('error', () => {}); // e.g. a message over maxPayload: ws closes the socket, 'close' follows
    ws.on('close', () => {
      this.ports.delete(port.id);
      for (const [mac, e] of this.macs) if (e.port === port) this.macs.delete(mac);
      const c = port.counters;
      this.log(`ts86 switch: port ${port.id} (${name}) left: ${c.rxFrames} frames in, ${c.txFrames} out, dropped ${c.dropQueueFull} (queue full) ${c.dropJunk} (junk)`);
    });
  }

  private beat(): void {
    for (const p of this.ports.values()) (p as Partial<{ ping(): void }>).ping?.();
  }

  /** Forwards one frame that came in on `from`. */
  input(from: Port, f: Uint8Array): void {
    if (f.length < ETH_HLEN || f.length > MAX_SWITCH_FRAME || (f[6]! & 1)) { from.counters.dropJunk++; return; }
    from.counters.rxFrames++;
    const now = Date.now();
    const src = macKey(f, 6);
    const known = this.macs.get(src);
    if (known) this.macs.delete(src); // re-inserted below as the most recently seen
    else if (this.macs.size >= MAX_MACS) this.macs.delete(this.macs.keys().next().value!);
    this.macs.set(src, { port: from, seen: now });
    if (!(f[0]! & 1)) {
      const to = this.macs.get(macKey(f, 0));
      if (to && now - to.seen < MAC_AGE_MS && this.ports.has(to.port.id)) {
        if (to.port !== from) to.port.deliver(f);
        return;
      }
    }
    for (const p of this.ports.values()) if (p !== from) p.deliver(f);
  }
}

const newCounters = (): PortCounters => ({ rxFrames: 0, txFrames: 0, dropQueueFull: 0, dropJunk: 0 });
const macKey = (f: Uint8Array, o: number): number =>
  f[o]! * 2 ** 40 + f[o + 1]! * 2 ** 32 + (((f[o + 2]! << 24) | (f[o + 3]! << 16) | (f[o + 4]! << 8) | f[o + 5]!) >>> 0);
