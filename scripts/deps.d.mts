/** Installs the Debian packages a command needs when they are missing (exits with a clear line when it cannot). */
export function ensurePackages(packages: string[], why: string): void;
