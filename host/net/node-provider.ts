/** The user network's NetProvider on Node's sockets (net, dgram) and resolver (dns.lookup: getaddrinfo, /etc/hosts). */
import { createServer, Socket } from 'node:net';
import { builtin } from '../builtin.js';
import type { NetProvider, TcpEvents, TcpHandle, TcpListener, UdpHandle } from './provider.js';

const dgram = builtin<typeof import('node:dgram')>('node:dgram');
const dns = builtin<typeof import('node:dns/promises')>('node:dns/promises');

function wrap(sock: Socket): TcpHandle {
  return {
    write: (data) => sock.write(data),
    get buffered() { return sock.writableLength; },
    end: () => { sock.end(); },
    destroy: () => { sock.resetAndDestroy?.() ?? sock.destroy(); },
    pause: () => { sock.pause(); },
    resume: () => { sock.resume(); },
  };
}

function attach(sock: Socket, ev: TcpEvents): void {
  sock.setNoDelay(true);
  sock.on('data', (d: Buffer) => ev.onData(d));
  sock.on('drain', () => ev.onDrain());
  sock.on('end', () => ev.onEnd());
  let error: string | null = null;
  sock.on('error', (e) => { error = e.message; });
  sock.on('close', () => ev.onClose(error));
}

export const nodeProvider: NetProvider = {
  connectTcp(ip, port, ev) {
    // allowHalfOpen: the guest decides when its side ends.
    const sock = new Socket({ allowHalfOpen: true });
    attach(sock, ev);
    sock.once('connect', () => ev.onConnect());
    sock.connect({ host: ip, port });
    return wrap(sock);
  },

  listenTcp(host, port, onAccept) {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => {
      const h = wrap(sock);
      const ev = onAccept(h);
      if (!ev) { sock.destroy(); return; }
      attach(sock, ev);
    });
    return new Promise<TcpListener>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${host}:${port}: ${e.code ?? e.message}`)));
      server.listen(port, host, () => {
        server.on('error', () => {});
        resolve({ close: () => { server.close(); } });
      });
    });
  },

  bindUdp(onMessage): UdpHandle {
    const sock = dgram().createSocket('udp4');
    sock.on('message', (msg, rinfo) => onMessage(msg, rinfo.address, rinfo.port));
    sock.on('error', () => {}); // e.g. ICMP port unreachable surfacing as ECONNREFUSED: the guest times out as on a real network
    sock.bind(0);
    return {
      send: (data, ip, port) => { sock.send(data, port, ip); },
      close: () => { try { sock.close(); } catch { /* already closed */ } },
    };
  },

  async lookup(name) {
    const r = await dns().lookup(name, { family: 4, all: true });
    return r.map((a) => a.address);
  },
};
