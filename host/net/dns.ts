/**
 * DNS at 10.0.2.3 (RFC 1035), answered through the host's resolver: an A query for a name becomes
 * a provider lookup; other types get an empty answer (NODATA), unknown names NXDOMAIN. Without a
 * provider every query is REFUSED. Outstanding lookups are bounded.
 */
import { DNS_IP, rd16, wr16, wr32, parseIpv4 } from './packet.js';
import { UDP_PAYLOAD, type IpOutput } from './user-network.js';
import type { NetProvider } from './provider.js';

const MAX_PENDING = 32;
const MAX_QUERY = 512;
const TTL = 60;
const NOERROR = 0, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4, REFUSED = 5;

export class DnsServer {
  private pending = 0;
  private closed = false;

  constructor(private readonly net: IpOutput, private readonly provider: NetProvider | null) {}

  close(): void { this.closed = true; }

  input(f: Uint8Array, src: number, sport: number, p: number, len: number): void {
    const s = this.net.stats;
    if (len < 12 || len > MAX_QUERY) { s.dropBadHeader++; return; }
    const flags = rd16(f, p + 2);
    if (flags & 0x8000) { s.dropBadHeader++; return; } // a response, not a query
    if (rd16(f, p + 4) !== 1) { s.dropBadHeader++; return; } // one question, as every resolver sends
    // The question: labels without compression, then type and class.
    let q = p + 12;
    const labels: string[] = [];
    for (;;) {
      if (q >= p + len) { s.dropBadHeader++; return; }
      const l = f[q]!;
      if (l === 0) { q++; break; }
      if (l > 63 || q + 1 + l > p + len) { s.dropBadHeader++; return; }
      let label = '';
      for (let k = 1; k <= l; k++) label += String.fromCharCode(f[q + k]!);
      labels.push(label);
      q += 1 + l;
    }
    if (q + 4 > p + len || q - (p + 12) > 255) { s.dropBadHeader++; return; }
    const qtype = rd16(f, q), qclass = rd16(f, q + 2);
    const query = f.slice(p, q + 4); // header and question, echoed in the answer
    s.dnsQueries++;
    const opcode = (flags >> 11) & 15;
    if (opcode !== 0) { this.answer(query, src, sport, NOTIMP, []); return; }
    if (!this.provider) { this.answer(query, src, sport, REFUSED, []); return; }
    if (this.pending >= MAX_PENDING) { s.dropTableFull++; return; }
    const name = labels.join('.');
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || qclass !== 1) { this.answer(query, src, sport, NXDOMAIN, []); return; }
    this.pending++;
    this.provider.lookup(name).then(
      (addrs) => this.answer(query, src, sport, NOERROR, qtype === 1 ? addrs : []),
      (e: unknown) => this.answer(query, src, sport, String((e as { code?: string }).code ?? e).includes('ENOTFOUND') ? NXDOMAIN : SERVFAIL, []),
    ).finally(() => { this.pending--; });
  }

  private answer(query: Uint8Array, dst: number, dport: number, rcode: number, addrs: string[]): void {
    if (this.closed) return;
    const o = this.net.out, b = UDP_PAYLOAD;
    o.set(query, b);
    const rd = query[2]! & 1;
    o[b + 2] = 0x80 | (query[2]! & 0x78) | rd; // QR, opcode, RD
    o[b + 3] = 0x80 | rcode; // RA
    let q = b + query.length, n = 0;
    for (const a of addrs) {
      const ip = parseIpv4(a);
      if (ip < 0 || q - b + 16 > MAX_QUERY) continue;
      wr16(o, q, 0xc00c); // name: pointer to the question's
      wr16(o, q + 2, 1); wr16(o, q + 4, 1); wr32(o, q + 6, TTL); wr16(o, q + 10, 4); wr32(o, q + 12, ip);
      q += 16; n++;
    }
    wr16(o, b + 6, n); wr16(o, b + 8, 0); wr16(o, b + 10, 0);
    this.net.emitUdp(DNS_IP, 53, dst, dport, q - b);
  }
}
