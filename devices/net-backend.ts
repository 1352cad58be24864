/**
 * The seam between a network card model and whatever is behind it (host/net/: the user-mode
 * network, the WebSocket switch client, pcap capture). Frames are whole Ethernet frames without
 * the FCS.
 */
export interface NetBackend {
  /** A frame from the guest (NIC TX). Valid only during the call: copy it to keep it. */
  send(frame: Uint8Array): void;
  /** Set by the NIC: deliver a frame to the guest (the NIC copies it into guest buffers or drops it). */
  onReceive: ((frame: Uint8Array) => void) | null;
  close(): void;
}
