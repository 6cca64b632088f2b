import * as net from 'node:net';

/**
 * A TCP port that was free a moment ago on 127.0.0.1, below the kernel's ephemeral range
 * (32768 and up here): a port there can be taken by any outgoing connection, and the engine warns
 * about one (src/ports.ts). Each jest worker counts through its own block of 1000 ports, so two
 * workers never pick the same one; the global setup (no worker id) has a block of its own.
 */
let next = 0;

export async function freePort(): Promise<number> {
  const worker = process.env.JEST_WORKER_ID;
  const base = worker === undefined ? 31_000 : 20_000 + ((Number(worker) - 1) % 11) * 1000;
  for (let tries = 0; tries < 1000; tries++) {
    const port = base + (next++ % 1000);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${base}-${base + 999} on 127.0.0.1`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
