export interface GuestPaths { dir: string; kernel: string; initrd: string; config: string }
export function cacheRoot(): string;
export function cachedGuest(): GuestPaths | null;
export function ensureGuest(opts?: { quiet?: boolean }): Promise<GuestPaths>;
