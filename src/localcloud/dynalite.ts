import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type { Logger } from '../logger';

interface DynaliteOptions {
  path: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
/** The part of dynalite's store (dynalite/db) used here. */
interface DynaliteStore {
  db: { open(): Promise<void>; close(callback: (err?: Error | null) => void): void; status: string };
  tableDb: { awsAccountId: string; awsRegion: string };
  lifecycleManager?: { forceClose(callback: (err?: Error | null) => void): void };
}
/** What dynalite's request listener touches of a request and of a response. */
type DynaliteHandler = (req: EventEmitter & Pick<http.IncomingMessage, 'method' | 'url' | 'headers'>, res: AnswerSink) => void;
interface AnswerSink {
  statusCode: number;
  setHeader(name: string, value: string | number): void;
  end(body?: string | Buffer): void;
}

/** One request to a store, the body read whole. */
export interface StoreRequest {
  method: string;
  /** Path and query, as the client sent them. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
export interface StoreAnswer {
  status: number;
  /** Lower-case names; content-length matches `body`. */
  headers: Record<string, string>;
  body: Buffer;
}

/** One dynalite: DynamoDB for one account in one region, reachable only through `request`. */
export interface Dynalite {
  /** Rejects only when dynalite throws while reading the request (answered as a 500 by the caller). */
  request(r: StoreRequest): Promise<StoreAnswer>;
  /** Closes its LevelDB (releasing the directory's lock). Never rejects: failures are logged. */
  close(): Promise<void>;
}

/**
 * Opens dynalite on the LevelDB directory `dir` (created if missing), answering with ARNs of
 * `accountId` and `region`, and resolves once its database is open. Tables stay CREATING,
 * UPDATING or DELETING for `transitionMs` (default 0).
 *
 * Nothing listens: requests are handed to dynalite's request listener in this process. A store
 * on a 127.0.0.1 port was reachable by anything on the host (a Lambda handler reads the ports
 * from /proc/net/tcp), and dynalite only checks that a signature is there, not whose: every
 * account's tables were open to it; an aborted request on that port made dynalite throw from its
 * request's 'error' event and took the engine down. A unix socket in a 0700 directory would also
 * keep others out, but still needs the socket files cleaned up after a killed engine, a path
 * under 108 bytes, and an HTTP round trip per request; a call needs none of that, and the only
 * door left is the local cloud's endpoint, which verifies signatures.
 *
 * Waiting for the open matters: dynalite serves requests whether or not LevelDB opened (it can
 * fail: no file descriptors left, the directory locked), and a ListTables on a database that is
 * not open makes an iterator error that dynalite emits on a stream nobody listens to, which
 * crashes the process (seen: EMFILE, then an unhandled LEVEL_ITERATOR_NOT_OPEN). dynalite does
 * not expose its store, so the store is taken from its `db.create` while dynalite calls it.
 */
export async function startDynalite(dir: string, accountId: string, region: string, logger: Logger, transitionMs = 0): Promise<Dynalite> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { handler, store } = createDynalite({ path: dir, createTableMs: transitionMs, deleteTableMs: transitionMs, updateTableMs: transitionMs });
  // ARNs are built from these when a table is created (dynalite reads them from the environment otherwise).
  store.tableDb.awsAccountId = accountId;
  store.tableDb.awsRegion = region;
  try {
    await store.db.open();
  } catch (err) {
    // LevelDB's own reason (a held lock, no file descriptors left) is the cause of abstract-level's "Database failed to open".
    const cause = (err as Error).cause as Error | undefined;
    throw new Error(`cannot open local DynamoDB for ${accountId} in ${region}: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}`, { cause: err });
  }
  logger.debug({ accountId, region }, 'local DynamoDB opened');
  // dynalite throws from its callbacks when LevelDB fails (`if (err) throw err`), closed databases
  // included: uncatchable, it would end the engine. So no request reaches a store once its close
  // began, and the close waits (up to STORE_DRAIN_MS) for those under way.
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | undefined;
  return {
    request: async (r) => {
      if (closing) throw new Error(`local DynamoDB for ${accountId} in ${region} is closed`);
      inFlight++;
      try {
        return await call(handler, r);
      } finally {
        if (--inFlight === 0) drained?.();
      }
    },
    close: async () => {
      closing = true;
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((resolve) => (drained = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, STORE_DRAIN_MS)))]);
        clearTimeout(timer);
      }
      return new Promise<void>((resolve) =>
        // dynalite's own close is its http.Server's, which refuses a server that never listened
        // before it closes the database: the store is closed directly (it waits for pending writes).
        store.db.close((err) => {
          if (!err) return resolve();
          // Writes still pending after dynalite's 10 s: closed anyway, as dynalite's own close does,
          // so the directory's lock is released for the next open.
          logger.error({ err: err.message, accountId, region }, 'local DynamoDB did not close cleanly');
          if (store.lifecycleManager) store.lifecycleManager.forceClose(() => resolve());
          else resolve();
        }),
      );
    },
  };
}

/** How long a close waits for requests under way (each takes milliseconds). */
const STORE_DRAIN_MS = 5000;

/**
 * Runs one request through dynalite's request listener. The request is an emitter that gives the
 * whole body at once and never fails, so dynalite's "throw on a request error" can no longer
 * fire; what it throws while reading the request (synchronously, inside the emits) rejects.
 */
function call(handler: DynaliteHandler, r: StoreRequest): Promise<StoreAnswer> {
  return new Promise((resolve, reject) => {
    const req = Object.assign(new EventEmitter(), { method: r.method, url: r.url, headers: r.headers });
    const headers: Record<string, string> = {};
    const res: AnswerSink = {
      statusCode: 200,
      setHeader: (name, value) => {
        headers[name.toLowerCase()] = String(value);
      },
      end: (body) => {
        const bytes = Buffer.from(body ?? '');
        // It only sets Transfer-Encoding on the answer to a body over 16 MB (which the endpoint refuses first).
        delete headers['transfer-encoding'];
        headers['content-length'] = String(bytes.length);
        resolve({ status: res.statusCode, headers, body: bytes });
      },
    };
    try {
      handler(req, res);
      if (r.body.length) req.emit('data', r.body);
      req.emit('end');
    } catch (err) {
      reject(err as Error);
    }
  });
}

// dynalite ships no TypeScript declarations. Loaded with the first DynamoDB request (~100 ms),
// not when the engine starts.
/* eslint-disable @typescript-eslint/no-require-imports */
function createDynalite(options: DynaliteOptions): { handler: DynaliteHandler; store: DynaliteStore } {
  const dynalite = require('dynalite') as (o: DynaliteOptions) => http.Server;
  const db = require('dynalite/db') as { create(o: DynaliteOptions): DynaliteStore };
  const create = db.create;
  let store: DynaliteStore | undefined;
  db.create = (o) => (store = create(o));
  try {
    // The server is never listened on: only its request listener (bound to the store) is used.
    const server = dynalite(options);
    return { handler: server.listeners('request')[0] as DynaliteHandler, store: store! };
  } finally {
    db.create = create;
  }
}
