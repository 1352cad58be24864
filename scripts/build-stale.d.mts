/** The modification time of the newest source of the CLI and the page. */
export function sourcesTime(): number;
/** True when `output` is missing or older than any source of the CLI and the page (`since`: sourcesTime(), when known). */
export function stale(output: string, since?: number): boolean;
