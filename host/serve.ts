/**
 * `ts86 serve [--port N]`: serves the browser page (dist/web/, built first when stale) and the
 * default guest (built first when missing) on localhost, with the headers that make the page
 * cross-origin isolated (so guest RAM can be a SharedArrayBuffer).
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { UsageError } from './cli.js';

/** Not 8086: that is `ts86 switch`'s, and the page may join a switch on the same host. */
export const DEFAULT_PORT = 8080;

const SERVE_HELP = `usage: ts86 serve [--port N]
  Serves the ts86 page and the default guest on http://localhost:N/ (default ${DEFAULT_PORT}; 0 picks a free port)
  and prints the URL to open. The guest and the page are built first when missing.`;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.png': 'image/png',
};

export interface PageServerOptions {
  /** dist/web/ */
  webDir: string;
  guest: { kernel: string; initrd: string };
  port: number;
  /** Send COOP/COEP (default true). Without them the page runs without SharedArrayBuffer. */
  isolated?: boolean;
}

/** Starts the HTTP server on 127.0.0.1; resolves once it listens. */
export function startPageServer(o: PageServerOptions): Promise<{ server: Server; url: string }> {
  const files = new Map<string, string>([['/guest/kernel', o.guest.kernel], ['/guest/initrd', o.guest.initrd]]);
  const send = (res: ServerResponse, status: number, path: string | null, type: string, head = false) => {
    const headers: Record<string, string | number> = { 'Content-Type': type, 'Cache-Control': 'no-cache' };
    if (o.isolated !== false) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    if (path) headers['Content-Length'] = statSync(path).size;
    res.writeHead(status, headers);
    if (head) res.end();
    else if (path) createReadStream(path).pipe(res);
    else res.end(status === 404 ? 'not found\n' : 'method not allowed\n');
  };
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, null, 'text/plain');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    // Only the guest's two files and plain names in the page's folder: no path reaches elsewhere.
    const file = files.get(path) ?? (path === '/' ? join(o.webDir, 'index.html') : /^\/[\w.-]+$/.test(path) ? join(o.webDir, path.slice(1)) : null);
    let ok = false;
    try { ok = file !== null && statSync(file).isFile(); } catch { /* missing */ }
    if (!ok) return send(res, 404, null, 'text/plain');
    send(res, 200, file, TYPES[/\.\w+$/.exec(file!)?.[0] ?? ''] ?? 'application/octet-stream', req.method === 'HEAD');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve({ server, url: `http://localhost:${(server.address() as AddressInfo).port}/` });
    });
  });
}

function parsePort(argv: string[]): number | 'help' {
  let port = DEFAULT_PORT;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    if (a === '-h' || a === '--help') return 'help';
    const v = a === '--port' ? argv[++k] : a.startsWith('--port=') ? a.slice(7) : undefined;
    if (a !== '--port' && !a.startsWith('--port=')) throw new UsageError(`serve: unknown option ${a} (see ts86 serve --help)`);
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`serve: --port ${v ?? ''}: give a port number from 0 to 65535`);
    port = n;
  }
  return port;
}

/** The `serve` subcommand; returns once the server listens (it keeps the process alive). */
export async function serveMain(argv: string[]): Promise<number> {
  const port = parsePort(argv);
  if (port === 'help') { console.log(SERVE_HELP); return 0; }
  process.stderr.write('ts86 serve: building the page...\n');
  const { buildWebIfStale } = await import('../scripts/build.mjs');
  const webDir = await buildWebIfStale();
  const { ensureGuest } = await import('../scripts/build-guest.mjs');
  const guest = await ensureGuest({ quiet: false });
  let url: string;
  try {
    ({ url } = await startPageServer({ webDir, guest, port }));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'EADDRINUSE' ? `serve: port ${port} is in use; choose another with --port N` : `serve: ${(e as Error).message}`);
  }
  console.log(`ts86: open ${url} in Chromium, Chrome, Edge or Firefox (Ctrl-C stops the server)`);
  return 0;
}
