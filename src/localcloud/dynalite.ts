import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
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
}

/** One dynalite: DynamoDB for one account in one region, on an ephemeral 127.0.0.1 port. */
export interface Dynalite {
  port: number;
  /** Keep-alive connections to it, ended with it (a stale one must never reach a later dynalite on the same port). */
  agent: http.Agent;
  /** Closes the server and its LevelDB (releasing the directory's lock). Never rejects: failures are logged. */
  close(): Promise<void>;
}

/**
 * Starts dynalite on the LevelDB directory `dir` (created if missing), answering with ARNs of
 * `accountId` and `region`, and resolves once its database is open. Tables stay CREATING,
 * UPDATING or DELETING for `transitionMs` (default 0).
 *
 * Waiting for the open matters: dynalite serves requests whether or not LevelDB opened (it can
 * fail: no file descriptors left, the directory locked), and a ListTables on a database that is
 * not open makes an iterator error that dynalite emits on a stream nobody listens to, which
 * crashes the process (seen: EMFILE, then an unhandled LEVEL_ITERATOR_NOT_OPEN). dynalite does
 * not expose its store, so the store is taken from its `db.create` while dynalite calls it.
 */
export async function startDynalite(dir: string, accountId: string, region: string, logger: Logger, transitionMs = 0): Promise<Dynalite> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { server, store } = createDynalite({ path: dir, createTableMs: transitionMs, deleteTableMs: transitionMs, updateTableMs: transitionMs });
  // ARNs are built from these when a table is created (dynalite reads them from the environment otherwise).
  store.tableDb.awsAccountId = accountId;
  store.tableDb.awsRegion = region;
  server.on('error', (err) => logger.error({ err: err.message, accountId, region }, 'local DynamoDB server error'));
  try {
    await store.db.open();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    // Listening failed with the database open: close it here, the server's close would not.
    if (store.db.status === 'open') await new Promise<void>((resolve) => store.db.close(() => resolve()));
    // LevelDB's own reason (a held lock, no file descriptors left) is the cause of abstract-level's "Database failed to open".
    const cause = (err as Error).cause as Error | undefined;
    throw new Error(`cannot open local DynamoDB for ${accountId} in ${region}: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}`, { cause: err });
  }
  const { port } = server.address() as AddressInfo;
  logger.debug({ accountId, region, port }, 'local DynamoDB opened');
  const agent = new http.Agent({ keepAlive: true });
  return {
    port,
    agent,
    close: () => {
      agent.destroy();
      return closeQuietly(server, logger, accountId, region);
    },
  };
}

function closeQuietly(server: http.Server, logger: Logger, accountId: string, region: string): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((resolve) =>
    server.close((err) => {
      // A server that never listened says so; its database was never served.
      if (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') {
        logger.error({ err: err.message, accountId, region }, 'local DynamoDB did not close cleanly');
      }
      resolve();
    }),
  );
}

// dynalite ships no TypeScript declarations. Loaded with the first DynamoDB request (~100 ms),
// not when the engine starts.
/* eslint-disable @typescript-eslint/no-require-imports */
function createDynalite(options: DynaliteOptions): { server: http.Server; store: DynaliteStore } {
  const dynalite = require('dynalite') as (o: DynaliteOptions) => http.Server;
  const db = require('dynalite/db') as { create(o: DynaliteOptions): DynaliteStore };
  const create = db.create;
  let store: DynaliteStore | undefined;
  db.create = (o) => (store = create(o));
  try {
    const server = dynalite(options);
    return { server, store: store! };
  } finally {
    db.create = create;
  }
}
