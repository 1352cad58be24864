// The default guest's /init prints READY_LINE before starting its shell (host/main.ts has the same
// constant for the CLI); the benchmark and profile scripts wait for it on the guest's serial output.
export const READY_LINE = 'ts86-guest: ready';

/** A serial-byte sink that calls `onReady` once, when a whole line equal to READY_LINE arrives. */
export function readyWatcher(onReady) {
  let line = '', seen = false;
  return (b) => {
    if (seen) return;
    if (b !== 10) { line += String.fromCharCode(b); return; }
    if (line.replace(/\r$/, '') === READY_LINE) { seen = true; onReady(); }
    line = '';
  };
}
