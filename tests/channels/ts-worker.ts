/** Start a worker_threads Worker on a TypeScript module under tsx (tests only). */
import { Worker } from 'node:worker_threads';

export function tsWorker(url: URL, workerData: unknown): Worker {
  // tsx's `--import` hooks do not reach workers: register them in an eval'd bootstrap first.
  const src = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(src, { eval: true, workerData });
}
