/**
 * `--net ws://HOST:PORT`: a NetBackend on a `ts86 switch` (or any relay that carries one Ethernet
 * frame per binary WebSocket message, as v86's does). Written against the standard WebSocket API,
 * so the same client runs in a page (the browser's WebSocket) and in Node (ws). Frames are dropped,
 * not queued without bound, while the socket is backed up or down; a lost switch is reconnected.
 */
import type { NetBackend } from '../../devices/net-backend.js';
import type { LogSink } from '../../bus/pci/guest-log.js';
import { ETH_HLEN } from './packet.js';

export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: { message?: string }) => void) | null;
  send(data: Uint8Array): void;
  close(): void;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** Frames up to a VLAN-tagged maximum pass; the receiving stack applies its own MTU. */
export const MAX_SWITCH_FRAME = 1518;
const MAX_BUFFERED = 1 << 20;
const CONNECT_TIMEOUT_MS = 10_000;
const OPEN = 1;

export class WsBackend implements NetBackend {
  onReceive: ((frame: Uint8Array) => void) | null = null;
  readonly stats = { txFrames: 0, rxFrames: 0, dropBackedUp: 0, dropJunk: 0, reconnects: 0 };
  private ws: WebSocketLike | null = null;
  private closed = false;
  private retryMs = 1000;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  private constructor(readonly url: string, private readonly ctor: WebSocketCtor, private readonly log: LogSink) {}

  /** Connects; rejects with "cannot reach the switch at URL: REASON" when it cannot. */
  static connect(url: string, ctor: WebSocketCtor, log: LogSink = (l) => console.error(l)): Promise<WsBackend> {
    const b = new WsBackend(url, ctor, log);
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try { ws = new ctor(url); } catch (e) { reject(new Error(`cannot reach the switch at ${url}: ${(e as Error).message}`)); return; }
      let reason = 'connection closed';
      const timer = setTimeout(() => { reason = 'timed out'; ws.close(); }, CONNECT_TIMEOUT_MS);
      ws.onerror = (ev) => { if (ev.message) reason = ev.message; };
      ws.onclose = () => { clearTimeout(timer); reject(new Error(`cannot reach the switch at ${url}: ${reason}`)); };
      ws.onopen = () => { clearTimeout(timer); b.attach(ws); resolve(b); };
    });
  }

  send(frame: Uint8Array): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN || ws.bufferedAmount > MAX_BUFFERED) { this.stats.dropBackedUp++; return; }
    this.stats.txFrames++;
    ws.send(frame.slice()); // the socket may hold the bytes after this call returns
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onclose = null; ws.close(); }
  }

  private attach(ws: WebSocketLike): void {
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.retryMs = 1000;
    ws.onerror = () => {};
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (!(d instanceof ArrayBuffer) || d.byteLength < ETH_HLEN || d.byteLength > MAX_SWITCH_FRAME) { this.stats.dropJunk++; return; }
      this.stats.rxFrames++;
      this.onReceive?.(new Uint8Array(d));
    };
    ws.onclose = (ev) => {
      this.ws = null;
      if (this.closed) return;
      this.log(`ts86: lost the switch at ${this.url} (${ev.code}${ev.reason ? ' ' + ev.reason : ''}); reconnecting`);
      this.retry();
    };
  }

  private retry(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.closed) return;
      WsBackend.connect(this.url, this.ctor, this.log).then((fresh) => {
        const ws = fresh.ws!;
        fresh.ws = null;
        if (this.closed) { ws.onclose = null; ws.close(); return; }
        this.stats.reconnects++;
        this.attach(ws);
        this.log(`ts86: reconnected to the switch at ${this.url}`);
      }, () => this.retry());
      this.retryMs = Math.min(10_000, this.retryMs * 2);
    }, this.retryMs);
    (this.retryTimer as { unref?: () => void }).unref?.();
  }
}
