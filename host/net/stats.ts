/** Counters of the user-mode network: what it handled and, by reason, what it dropped. */
export function newNetStats() {
  return {
    rxFrames: 0, txFrames: 0,
    arpReplies: 0, icmpEchoReplies: 0, dhcpReplies: 0, dnsQueries: 0,
    tcpSegmentsIn: 0, tcpSegmentsOut: 0, udpIn: 0, udpOut: 0,
    tcpConnections: 0, tcpResets: 0,
    dropShort: 0, dropOversized: 0, dropNotForUs: 0, dropEthertype: 0, dropBadHeader: 0,
    dropBadChecksum: 0, dropFragment: 0, dropUnreachable: 0, dropTableFull: 0, dropNoHost: 0,
    dropUnknown: 0, internalErrors: 0,
  };
}
export type NetStats = ReturnType<typeof newNetStats>;

/** Total of the drop counters. */
export function dropped(s: NetStats): number {
  let n = 0;
  for (const [k, v] of Object.entries(s)) if (k.startsWith('drop')) n += v;
  return n;
}
