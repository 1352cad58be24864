export function buildIfStale(): Promise<void>;
/** Builds the page into dist/web/ when a source is newer; returns that folder. */
export function buildWebIfStale(): Promise<string>;
