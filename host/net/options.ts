/**
 * The network options (`--net`, `--hostfwd`, `--pcap`), parsed and validated. Plain data, so they
 * can be posted to the device-model worker. Errors are thrown as Error with one readable line.
 */
import { parseIpv4, GUEST_IP, ipToString } from './packet.js';
import type { HostForward } from './tcp.js';

export interface NetOptions {
  /** 'user' (the user-mode network) or the ws:// or wss:// URL of a `ts86 switch`. */
  net: string;
  /** `--hostfwd` forwards (user network only). */
  hostfwd: HostForward[];
  /** `--pcap FILE`: capture every frame to FILE. */
  pcap?: string;
}

export const defaultNetOptions = (): NetOptions => ({ net: 'user', hostfwd: [] });

export function parseNet(v: string): string {
  if (v === 'user') return v;
  let u: URL;
  try { u = new URL(v); } catch { throw new Error(`--net ${v}: use user or ws://HOST:PORT`); }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`--net ${v}: use user or ws://HOST:PORT`);
  return v;
}

const port = (s: string, what: string, spec: string): number => {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > 65535) throw new Error(`--hostfwd ${spec}: ${what} must be a port number 1-65535`);
  return n;
};

/** QEMU's syntax: tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (the protocol may be left out). */
export function parseHostfwd(spec: string): HostForward {
  const m = /^(?:(tcp|udp):)?([^:-]*):(\d*)-([^:]*):(\d*)$/.exec(spec);
  if (!m) throw new Error(`--hostfwd ${spec}: use tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, e.g. tcp::8080-:80`);
  if (m[1] === 'udp') throw new Error(`--hostfwd ${spec}: only tcp forwards are supported`);
  const hostAddr = m[2] || '127.0.0.1';
  const guestAddr = m[4] || ipToString(GUEST_IP);
  if (parseIpv4(hostAddr) < 0) throw new Error(`--hostfwd ${spec}: host address ${hostAddr} is not an IPv4 address`);
  const g = parseIpv4(guestAddr);
  if (g < 0 || (g >>> 8) !== 0x0a0002) throw new Error(`--hostfwd ${spec}: guest address ${guestAddr} is not in 10.0.2.0/24`);
  return { hostAddr, hostPort: port(m[3]!, 'the host port', spec), guestAddr, guestPort: port(m[5]!, 'the guest port', spec) };
}

/** Checks that fit the options together; throws a readable Error. */
export function checkNetOptions(o: NetOptions): void {
  if (o.hostfwd.length && o.net !== 'user') throw new Error('--hostfwd needs --net user (the switch forwards with ts86 switch --nat --hostfwd)');
  const seen = new Set<string>();
  for (const f of o.hostfwd) {
    const k = `${f.hostAddr}:${f.hostPort}`;
    if (seen.has(k)) throw new Error(`--hostfwd: host port ${k} given twice`);
    seen.add(k);
  }
}
