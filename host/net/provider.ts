/**
 * What the user-mode network needs from its host: TCP and UDP sockets and name lookups. The stack
 * (user-network.ts and its parts) only sees this interface, so it runs unchanged in a browser page
 * with no provider at all (gateway, ARP, ICMP and DHCP only). node-provider.ts implements it on
 * Node's sockets.
 */

/** The stack's side of one host TCP socket. */
export interface TcpEvents {
  /** An outbound connect completed. */
  onConnect(): void;
  onData(data: Uint8Array): void;
  /** The socket's send buffer emptied after `write` returned false. */
  onDrain(): void;
  /** The peer finished sending (FIN). */
  onEnd(): void;
  /** The socket is gone (error, reset, or both directions closed). */
  onClose(error: string | null): void;
}

/** The provider's side of one host TCP socket. */
export interface TcpHandle {
  /** Queues data (the handle keeps `data`); false when the caller should wait for onDrain. */
  write(data: Uint8Array): boolean;
  /** Bytes queued and not yet handed to the host's network stack. */
  readonly buffered: number;
  /** Half-close: send FIN after the queued data. */
  end(): void;
  /** Abort (RST where the host can). */
  destroy(): void;
  pause(): void;
  resume(): void;
}

export interface UdpHandle {
  send(data: Uint8Array, ip: string, port: number): void;
  close(): void;
}

export interface TcpListener {
  close(): void;
}

export interface NetProvider {
  /** Starts an outbound connection; events arrive on `events`. */
  connectTcp(ip: string, port: number, events: TcpEvents): TcpHandle;
  /** Listens; each accepted socket is offered to `onAccept`, which returns its events or null to refuse it. Rejects with a readable message. */
  listenTcp(host: string, port: number, onAccept: (socket: TcpHandle) => TcpEvents | null): Promise<TcpListener>;
  /** A UDP socket on an ephemeral port; datagrams from anywhere arrive on `onMessage`. */
  bindUdp(onMessage: (data: Uint8Array, ip: string, port: number) => void): UdpHandle;
  /** IPv4 addresses for a host name through the host's resolver; rejects with 'ENOTFOUND' when the name does not exist. */
  lookup(name: string): Promise<string[]>;
}
