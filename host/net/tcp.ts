/**
 * TCP between the guest and host sockets (RFC 793/9293): the guest's connections are terminated
 * here and re-made as host sockets (10.0.2.2 is the host's 127.0.0.1, other addresses as given),
 * and `--hostfwd` listeners on the host open connections into the guest. Handshake, sequence and
 * acknowledgement numbers, windows both ways (host sockets are paused when the guest's window is
 * full, the advertised window shrinks while the host socket is backed up), MSS, FIN in both
 * directions, RST. The guest link does not lose frames, but the NIC may drop one when the guest has
 * no receive buffers, so unacknowledged data is resent go-back-N after a timeout; the guest's own
 * retransmits are trimmed and acknowledged. The connection table is bounded, and connections
 * whose peer stops answering are aborted after a bounded number of retries.
 */
import { GATEWAY_IP, PROTO_TCP, fold, parseIpv4, pseudoSum, rd16, rd32, sum16, wr16, wr32, inNet, MTU } from './packet.js';
import { IP_PAYLOAD, type IpOutput } from './user-network.js';
import type { NetProvider, TcpEvents, TcpHandle, TcpListener } from './provider.js';
import { hostAddressFor } from './udp-nat.js';

export interface HostForward {
  /** Host address to listen on (default 127.0.0.1). */
  hostAddr: string;
  hostPort: number;
  /** Guest address, dotted (default 10.0.2.15). */
  guestAddr: string;
  guestPort: number;
}

const FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;
const OUR_MSS = MTU - 40;
const MAX_CONNS = 256;
const MAX_CONNECTING = 64;
/** Bytes from the host held for the guest before the host socket is paused. */
const SEND_BUFFER = 256 * 1024;
/** Receive window offered to the guest: the most the host socket may have queued. */
const RECV_WINDOW = 65535;
const TICK_MS = 100;
const RTO_MS = 500;
const MAX_RTO_MS = 5000;
const MAX_RETRIES = 8;
const CONNECT_TIMEOUT_MS = 30_000;

const seqLt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
const seqAdd = (a: number, n: number): number => (a + n) >>> 0;

type State = 'connecting' | 'synRcvd' | 'synSent' | 'established' | 'closed';

class TcpConn implements TcpEvents {
  state: State;
  handle: TcpHandle | null = null;
  hostOpen = true;
  iss: number;
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  sndWnd = 0;
  mss = 536;
  irs = 0;
  rcvNxt = 0;
  /** Data from the host not yet acknowledged by the guest, from sndUna on. */
  readonly chunks: Uint8Array[] = [];
  headOff = 0;
  queued = 0;
  hostPaused = false;
  hostEnded = false;
  finSent = false;
  finAcked = false;
  guestFin = false;
  advertisedZero = false;
  lastProgress: number;
  retries = 0;
  created: number;

  constructor(readonly nat: TcpNat, readonly key: string, readonly guestIp: number, readonly guestPort: number,
    readonly remoteIp: number, readonly remotePort: number, state: State, iss: number, now: number) {
    this.state = state;
    this.iss = this.sndUna = this.sndNxt = this.sndMax = iss;
    this.lastProgress = this.created = now;
  }

  // --- host socket events ---
  onConnect(): void {
    if (this.state === 'connecting') this.nat.connected(this);
  }

  onData(data: Uint8Array): void {
    if (this.state === 'closed' || data.length === 0) return;
    this.chunks.push(data);
    this.queued += data.length;
    if (this.queued >= SEND_BUFFER && !this.hostPaused) { this.hostPaused = true; this.handle?.pause(); }
    this.pump(false);
  }

  onDrain(): void {
    if (this.advertisedZero && this.state === 'established') this.nat.segment(this, ACK, this.sndNxt, 0);
  }

  onEnd(): void {
    if (this.state === 'closed') return;
    this.hostEnded = true;
    this.pump(false);
  }

  onClose(error: string | null): void {
    this.hostOpen = false;
    this.handle = null;
    if (this.state === 'closed') return;
    if (error !== null || this.state !== 'established' || !this.hostEnded) this.nat.abort(this, true);
    else if (this.guestFin && this.finAcked) this.nat.remove(this);
  }

  receiveWindow(): number {
    const w = Math.max(0, RECV_WINDOW - (this.handle?.buffered ?? 0));
    this.advertisedZero = w < OUR_MSS;
    return w;
  }

  /** Sends what the guest's window allows (on a retransmit, a one-byte probe into a zero window), then FIN when the host has ended. */
  pump(probe: boolean): boolean {
    if (this.state !== 'established') return false;
    let sent = false;
    for (;;) {
      const inflight = (this.sndNxt - this.sndUna) >>> 0;
      const avail = this.queued - inflight;
      if (avail <= 0) break;
      let room = this.sndWnd - inflight;
      const zeroWindowProbe = room <= 0 && probe && inflight === 0;
      if (zeroWindowProbe) room = 1;
      if (room <= 0) break;
      const n = Math.min(avail, room, this.mss);
      this.copyOut(inflight, n, this.nat.dataOffset());
      this.nat.segment(this, ACK | (n === avail ? PSH : 0), this.sndNxt, n);
      this.advance(n);
      sent = true;
      if (zeroWindowProbe) break;
    }
    if (this.hostEnded && !this.finSent && ((this.sndNxt - this.sndUna) >>> 0) === this.queued) {
      this.nat.segment(this, FIN | ACK, this.sndNxt, 0);
      this.finSent = true;
      this.advance(1);
      sent = true;
    }
    return sent;
  }

  private advance(n: number): void {
    if (this.sndNxt === this.sndUna) this.lastProgress = Date.now(); // the retransmit clock starts with the first unacked byte
    this.sndNxt = seqAdd(this.sndNxt, n);
    if (seqLt(this.sndMax, this.sndNxt)) this.sndMax = this.sndNxt;
  }

  /** Copies n queued bytes starting `off` bytes after sndUna into the output. */
  private copyOut(off: number, n: number, dst: number): void {
    const out = this.nat.net.out;
    let skip = off + this.headOff;
    for (const c of this.chunks) {
      if (n === 0) break;
      if (skip >= c.length) { skip -= c.length; continue; }
      const k = Math.min(n, c.length - skip);
      out.set(c.subarray(skip, skip + k), dst);
      dst += k; n -= k; skip = 0;
    }
  }

  /** The guest acknowledged up to `ack`. */
  acked(ack: number): void {
    let n = (ack - this.sndUna) >>> 0;
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    if (this.state === 'synRcvd' || this.state === 'synSent') n--; // our SYN
    const data = Math.min(n, this.queued);
    if (n > data && this.finSent) this.finAcked = true;
    this.queued -= data;
    let drop = data + this.headOff;
    while (this.chunks.length && drop >= this.chunks[0]!.length) drop -= this.chunks.shift()!.length;
    this.headOff = drop;
    this.retries = 0;
    this.lastProgress = Date.now();
    if (this.hostPaused && this.queued < SEND_BUFFER / 2) { this.hostPaused = false; this.handle?.resume(); }
  }
}

export class TcpNat {
  private readonly conns = new Map<string, TcpConn>();
  private readonly listeners: TcpListener[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private connecting = 0;
  private nextPort = 49152;
  private issState = 0x1d2c3b4a;

  constructor(readonly net: IpOutput, private readonly provider: NetProvider | null) {}

  get connections(): number { return this.conns.size; }

  /** Listens on the host for one `--hostfwd`; rejects with a readable message. */
  async forward(f: HostForward): Promise<void> {
    if (!this.provider) throw new Error('--hostfwd needs host sockets, which this network has not got');
    const guestIp = parseIpv4(f.guestAddr);
    this.listeners.push(await this.provider.listenTcp(f.hostAddr, f.hostPort, (handle) => this.accept(guestIp, f.guestPort, handle)));
  }

  close(): void {
    for (const l of this.listeners) l.close();
    this.listeners.length = 0;
    for (const c of [...this.conns.values()]) this.abort(c, true);
    this.stopTimer();
  }

  /** Where segment() expects the payload. */
  dataOffset(): number { return IP_PAYLOAD + 20; }

  input(f: Uint8Array, src: number, dst: number, p: number, len: number): void {
    const s = this.net.stats;
    const off = (f[p + 12]! >> 4) * 4, flags = f[p + 13]!;
    if (off < 20 || off > len) { s.dropBadHeader++; return; }
    s.tcpSegmentsIn++;
    const sport = rd16(f, p), dport = rd16(f, p + 2), seq = rd32(f, p + 4), ack = rd32(f, p + 8), wnd = rd16(f, p + 14);
    const dlen = len - off;
    if (sport === 0 || dport === 0) { s.dropBadHeader++; return; }
    const key = `${src}:${sport}:${dst}:${dport}`;
    const c = this.conns.get(key);
    if (!c) {
      if (flags & RST) return;
      if ((flags & (SYN | ACK | FIN)) === SYN) { this.open(key, f, src, sport, dst, dport, seq, wnd, p, off); return; }
      // RFC 793 "reset generation" for a segment that belongs to no connection.
      s.dropUnknown++;
      if (flags & ACK) this.reset(src, sport, dst, dport, ack, 0, RST);
      else this.reset(src, sport, dst, dport, 0, seqAdd(seq, dlen + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)), RST | ACK);
      return;
    }
    this.segmentIn(c, f, flags, seq, ack, wnd, p + off, dlen, p, off);
  }

  private open(key: string, f: Uint8Array, src: number, sport: number, dst: number, dport: number, seq: number, wnd: number, p: number, off: number): void {
    const s = this.net.stats;
    const refuse = () => { s.tcpResets++; this.reset(src, sport, dst, dport, 0, seqAdd(seq, 1), RST | ACK); };
    if (!this.provider || (inNet(dst) && dst !== GATEWAY_IP)) { s.dropUnreachable++; refuse(); return; }
    if (this.conns.size >= MAX_CONNS || this.connecting >= MAX_CONNECTING) { s.dropTableFull++; refuse(); return; }
    const now = Date.now();
    const c = new TcpConn(this, key, src, sport, dst, dport, 'connecting', this.nextIss(), now);
    c.irs = seq; c.rcvNxt = seqAdd(seq, 1); c.sndWnd = wnd; c.mss = parseMss(f, p, off);
    this.add(c);
    this.connecting++;
    c.handle = this.provider.connectTcp(hostAddressFor(dst), dport, c);
  }

  /** The host socket of a guest's connection is up: answer the guest's SYN. */
  connected(c: TcpConn): void {
    this.connecting--;
    c.state = 'synRcvd';
    c.sndNxt = c.sndMax = seqAdd(c.iss, 1);
    c.lastProgress = Date.now();
    this.segment(c, SYN | ACK, c.iss, 0);
  }

  private accept(guestIp: number, guestPort: number, handle: TcpHandle): TcpEvents | null {
    if (this.conns.size >= MAX_CONNS) { this.net.stats.dropTableFull++; return null; }
    let port = 0, key = '';
    for (let k = 0; k < 16384; k++) {
      const cand = this.nextPort;
      this.nextPort = cand === 65535 ? 49152 : cand + 1;
      key = `${guestIp}:${guestPort}:${GATEWAY_IP}:${cand}`;
      if (!this.conns.has(key)) { port = cand; break; }
    }
    if (!port) return null;
    const c = new TcpConn(this, key, guestIp, guestPort, GATEWAY_IP, port, 'synSent', this.nextIss(), Date.now());
    c.handle = handle;
    handle.pause(); // nothing to read until the guest accepts
    c.hostPaused = true;
    c.sndNxt = c.sndMax = seqAdd(c.iss, 1);
    this.add(c);
    this.segment(c, SYN, c.iss, 0);
    return c;
  }

  private segmentIn(c: TcpConn, f: Uint8Array, flags: number, seq: number, ack: number, wnd: number, d: number, dlen: number, p: number, off: number): void {
    const s = this.net.stats;
    if (flags & RST) {
      // RFC 5961 §3: only a reset at exactly the next expected sequence number is believed.
      if (seq === c.rcvNxt || c.state === 'synSent') { s.tcpResets++; this.abort(c, false); }
      return;
    }
    if (c.state === 'connecting') return; // the guest's retransmitted SYN while the host connects
    if (c.state === 'synSent') {
      if ((flags & (SYN | ACK)) === (SYN | ACK) && ack === seqAdd(c.iss, 1)) {
        c.irs = seq; c.rcvNxt = seqAdd(seq, 1); c.sndWnd = wnd; c.mss = parseMss(f, p, off);
        c.acked(ack);
        c.state = 'established';
        this.segment(c, ACK, c.sndNxt, 0);
        c.hostPaused = false; c.handle?.resume();
      } else if (flags & ACK) this.reset(c.guestIp, c.guestPort, c.remoteIp, c.remotePort, ack, 0, RST);
      return;
    }
    if (flags & SYN) {
      if (seq === c.irs && c.state === 'synRcvd') this.segment(c, SYN | ACK, c.iss, 0);
      else this.segment(c, ACK, c.sndNxt, 0); // RFC 5961 §4: a challenge ACK
      return;
    }
    if (!(flags & ACK)) return;
    if (seqLt(c.sndMax, ack)) { this.segment(c, ACK, c.sndNxt, 0); return; } // acks what we never sent
    if (seqLt(c.sndUna, ack)) c.acked(ack);
    else c.retries = 0; // a live peer (e.g. answering zero-window probes) is never timed out
    if (c.state === 'synRcvd') {
      if (c.sndUna !== seqAdd(c.iss, 1)) return;
      c.state = 'established';
    }
    c.sndWnd = wnd;

    let consumed = false;
    // Data: trim what was already received (the guest's retransmits), refuse what is ahead of us.
    let start = d, n = dlen, fin = (flags & FIN) !== 0;
    const behind = (c.rcvNxt - seq) | 0;
    if (behind < 0) { this.segment(c, ACK, c.sndNxt, 0); return; }
    if (behind > 0) {
      if (behind >= n + (fin ? 1 : 0)) { this.segment(c, ACK, c.sndNxt, 0); return; }
      start += behind; n -= behind;
    }
    if (n > 0) {
      if (c.guestFin || !c.hostOpen || !c.handle) { this.abort(c, true); return; } // data after FIN or with the host gone
      const room = c.receiveWindow();
      if (n > room) { n = room; fin = false; }
      if (n > 0) {
        c.handle.write(f.slice(start, start + n));
        c.rcvNxt = seqAdd(c.rcvNxt, n);
        consumed = true;
      }
    }
    if (fin && !c.guestFin) {
      c.rcvNxt = seqAdd(c.rcvNxt, 1);
      c.guestFin = true;
      consumed = true;
      c.handle?.end();
    }
    const sent = c.pump(false);
    if (consumed && !sent) this.segment(c, ACK, c.sndNxt, 0);
    if (c.guestFin && c.finAcked) this.remove(c);
  }

  /** Sends a segment of connection c whose payload (n bytes) is already at dataOffset(). */
  segment(c: TcpConn, flags: number, seq: number, n: number): void {
    const syn = (flags & SYN) !== 0;
    const o = this.net.out, t = IP_PAYLOAD;
    if (syn) {
      // SYN carries our MSS (RFC 9293 §3.7.1); its payload is empty, so the option goes where data would.
      o[t + 20] = 2; o[t + 21] = 4; wr16(o, t + 22, OUR_MSS);
    }
    this.header(c.remoteIp, c.remotePort, c.guestIp, c.guestPort, seq, flags & ACK ? c.rcvNxt : 0, flags,
      c.state === 'closed' ? 0 : Math.min(65535, c.receiveWindow()), syn ? 24 : 20, n);
  }

  private reset(guestIp: number, guestPort: number, remoteIp: number, remotePort: number, seq: number, ack: number, flags: number): void {
    this.header(remoteIp, remotePort, guestIp, guestPort, seq, ack, flags, 0, 20, 0);
  }

  private header(src: number, sport: number, dst: number, dport: number, seq: number, ack: number, flags: number, wnd: number, hl: number, n: number): void {
    const o = this.net.out, t = IP_PAYLOAD;
    if (hl !== 20 && n) o.copyWithin(t + hl, t + 20, t + 20 + n);
    wr16(o, t, sport); wr16(o, t + 2, dport); wr32(o, t + 4, seq); wr32(o, t + 8, ack);
    o[t + 12] = (hl / 4) << 4; o[t + 13] = flags; wr16(o, t + 14, wnd);
    wr16(o, t + 16, 0); wr16(o, t + 18, 0);
    const len = hl + n;
    wr16(o, t + 16, fold(sum16(o, t, len, pseudoSum(src, dst, PROTO_TCP, len))));
    this.net.stats.tcpSegmentsOut++;
    this.net.emitIp(PROTO_TCP, src, dst, len);
  }

  private add(c: TcpConn): void {
    this.conns.set(c.key, c);
    this.net.stats.tcpConnections++;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(Date.now()), TICK_MS);
      (this.timer as { unref?: () => void }).unref?.(); // never keeps a process alive
    }
  }

  remove(c: TcpConn): void {
    if (c.state === 'connecting') this.connecting--;
    c.state = 'closed';
    this.conns.delete(c.key);
    if (this.conns.size === 0) this.stopTimer();
  }

  /** Ends a connection at once: RST to the guest if asked, the host socket destroyed. */
  abort(c: TcpConn, resetGuest: boolean): void {
    if (c.state === 'closed') return;
    if (resetGuest && c.state !== 'connecting') {
      this.reset(c.guestIp, c.guestPort, c.remoteIp, c.remotePort, c.sndNxt, c.rcvNxt, RST | ACK);
    } else if (resetGuest) {
      this.reset(c.guestIp, c.guestPort, c.remoteIp, c.remotePort, 0, c.rcvNxt, RST | ACK);
    }
    this.net.stats.tcpResets += resetGuest ? 1 : 0;
    const h = c.handle;
    this.remove(c);
    c.handle = null;
    if (h && c.hostOpen) h.destroy();
  }

  private stopTimer(): void {
    if (this.timer) { clearInterval(this.timer); this.timer = null; }
  }

  /** The timers, as of `now` (ms): resends, zero-window probes, give-ups. Runs every 100 ms. */
  tick(now: number): void {
    for (const c of [...this.conns.values()]) {
      if (c.state === 'connecting') {
        if (now - c.created > CONNECT_TIMEOUT_MS) this.abort(c, true);
        continue;
      }
      const waiting = c.sndNxt !== c.sndUna || (c.state === 'established' && c.sndWnd === 0 && c.queued > 0);
      if (!waiting) continue;
      if (now - c.lastProgress < Math.min(MAX_RTO_MS, RTO_MS << c.retries)) continue;
      if (++c.retries > MAX_RETRIES) { this.abort(c, true); continue; }
      c.lastProgress = now;
      if (c.state === 'synSent') { this.segment(c, SYN, c.iss, 0); continue; }
      if (c.state === 'synRcvd') { this.segment(c, SYN | ACK, c.iss, 0); continue; }
      // Go back to the first unacknowledged byte.
      c.sndNxt = c.sndUna;
      if (!c.finAcked) c.finSent = false;
      c.pump(true);
    }
  }

  private nextIss(): number {
    // A fixed-seed generator: initial sequence numbers differ per connection and runs are reproducible.
    this.issState = (Math.imul(this.issState, 1664525) + 1013904223) >>> 0;
    return this.issState;
  }
}

/** The MSS option of a SYN (RFC 9293 §3.7.1), clamped to what fits our MTU; 536 when absent. */
function parseMss(f: Uint8Array, p: number, off: number): number {
  for (let o = p + 20; o < p + off;) {
    const kind = f[o]!;
    if (kind === 0) break;
    if (kind === 1) { o++; continue; }
    const l = f[o + 1] ?? 0;
    if (l < 2 || o + l > p + off) break;
    if (kind === 2 && l === 4) return Math.max(64, Math.min(OUR_MSS, rd16(f, o + 2)));
    o += l;
  }
  return 536;
}
