/** True when `output` is missing or older than any source of the CLI and the page. */
export function stale(output: string): boolean;
