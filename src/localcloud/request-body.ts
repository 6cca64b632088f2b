import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Bytes of request bodies held in memory at once, per access key: a request is signed over its
 * body, so the body is read before the signature can be checked, and a key id alone (a tenant
 * reads its own in its database) is enough to make the local cloud read. Counted before the
 * bytes are read, so a key's requests never hold more than its budget, whatever they declare,
 * and one key's requests never stop another's.
 */
export class BodyBudget {
  private readonly held = new Map<string, number>();

  constructor(readonly bytesPerKey: number) {}

  /** Takes `bytes` of `key`'s budget; false, taking nothing, when that would pass it. */
  take(key: string, bytes: number): boolean {
    const held = this.held.get(key) ?? 0;
    if (held + bytes > this.bytesPerKey) return false;
    this.held.set(key, held + bytes);
    return true;
  }

  give(key: string, bytes: number): void {
    const left = (this.held.get(key) ?? 0) - bytes;
    if (left > 0) this.held.set(key, left);
    else this.held.delete(key);
  }

  /** What `key`'s requests hold now. */
  heldBy(key: string): number {
    return this.held.get(key) ?? 0;
  }
}

/** Why a body was not read: over the service's limit, or over its key's budget. */
export class BodyRefused extends Error {
  constructor(
    readonly reason: 'tooLarge' | 'overBudget',
    message: string,
  ) {
    super(message);
  }
}

export interface BodyLimits {
  /** The largest body the service takes. */
  maxBytes: number;
  budget: BodyBudget;
  /** Whose budget: the access key id the request is signed with. */
  key: string;
}

/**
 * The whole body of `req`, read only within `limits`: a declared Content-Length over
 * `maxBytes`, or more than is left of the key's budget, is refused before a byte is read; a
 * chunked body is cut off as soon as it passes either. What is taken of the budget is given back
 * when the exchange ends (`res` closes: answered, or the client gone), since until then the body
 * is in the hands of the service that answers it. Rejects with BodyRefused, or with the request's
 * own error (the client went away); the caller answers, and closes the connection on a refusal.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, { maxBytes, budget, key }: BodyLimits): Promise<Buffer> {
  let taken = 0;
  const take = (bytes: number) => {
    if (!budget.take(key, bytes)) return false;
    taken += bytes;
    return true;
  };
  res.once('close', () => budget.give(key, taken));
  const overBudget = () =>
    new BodyRefused(
      'overBudget',
      `too many request bodies at once for access key ${key}: the iasql local cloud holds at most ${budget.bytesPerKey} bytes of them per key ` +
        `while it reads and answers them (${budget.heldBy(key)} held now); wait for the requests in flight to finish, then retry`,
    );
  const tooLarge = (size: string) => new BodyRefused('tooLarge', `the request body (${size}) is larger than the ${maxBytes} bytes this service takes; send a smaller one`);

  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined) {
    if (declared > maxBytes) return Promise.reject(tooLarge(`${declared} bytes`));
    if (!take(declared)) return Promise.reject(overBudget());
  }
  if (String(req.headers.expect).toLowerCase() === '100-continue') res.writeContinue();
  return new Promise((resolve, reject) => {
    // A declared length is copied into one buffer of that size, made when the first byte comes:
    // the body then costs what was taken from the budget, not that again for a list of chunks
    // and their concatenation.
    let whole: Buffer | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (err: BodyRefused) => {
      // Nothing more is read: the caller's answer closes the connection.
      req.removeAllListeners('data');
      req.pause();
      chunks.length = 0;
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (declared !== undefined) {
        // Node's parser never delivers more than a Content-Length declares.
        whole ??= Buffer.allocUnsafe(declared);
        size += chunk.copy(whole, size);
        return;
      }
      size += chunk.length;
      if (size > maxBytes) return stop(tooLarge(`more than ${maxBytes} bytes, chunked`));
      if (!take(chunk.length)) return stop(overBudget());
      chunks.push(chunk);
    });
    req.on('end', () => resolve(whole ? whole.subarray(0, size) : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}
