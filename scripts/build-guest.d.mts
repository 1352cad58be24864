export interface GuestPaths {
  dir: string;
  /** The kernel the default guest boots: vmlinux, through the PVH entry. */
  kernel: string;
  /** The same kernel as an LZ4 bzImage, for loaders without PVH. */
  bzImage: string;
  /** Uncompressed cpio (newc). */
  initrd: string;
  config: string;
  systemMap: string;
}
export function cacheRoot(): string;
export function cachedGuest(): GuestPaths | null;
export function ensureGuest(opts?: { quiet?: boolean }): Promise<GuestPaths>;
/** What is wrong with a kernel .config against the fragment (empty: nothing). */
export function configProblems(config: string, fragment: string, symbols: Set<string>): string[];
/** Every option name the Kconfig files of a kernel source tree define. */
export function kconfigSymbols(tree: string): Set<string>;
