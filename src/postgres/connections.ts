import { Client, Pool, PoolClient } from 'pg';
import type { Logger } from '../logger';

/** Host, port, user and password of a postgres:// URL, for another database of that server. */
export function urlSettings(url: string, database: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
  };
}

/**
 * The one connection manager. Every connection the engine opens to the Postgres server goes
 * through here: one pool per database, opened on first use, closed after it has sat idle, all
 * with the engine's admin credentials. Pools are never created per call.
 */
export class Connections {
  private readonly pools = new Map<string, { pool: Pool; lastUsed: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    /** Admin URL; its database part is ignored, each pool names its own. */
    private readonly adminUrl: string,
    private readonly logger: Logger,
    private readonly idleMs = 60_000,
  ) {
    this.sweeper = setInterval(() => void this.closeIdle(), Math.min(idleMs, 30_000));
    this.sweeper.unref();
  }

  /** Connection settings of `database` with the admin role (for pg, TypeORM, tests). */
  settings(database: string) {
    return urlSettings(this.adminUrl, database);
  }

  /** Host and port as tenants reach the server (the admin URL's). */
  get endpoint() {
    const { host, port } = this.settings('postgres');
    return { host, port };
  }

  /**
   * The pool of `database`. `max` sizes it when this call creates it (default 20). A `purpose`
   * names a separate pool of the same database whose sessions start with `gucs` set.
   */
  pool(database: string, max = 20, purpose = '', gucs: Record<string, string> = {}): Pool {
    const key = purpose ? `${database}#${purpose}` : database;
    let entry = this.pools.get(key);
    if (!entry) {
      const options = Object.entries(gucs).map(([k, v]) => `-c ${k}=${v}`).join(' ') || undefined;
      const pool = new Pool({ ...this.settings(database), max, idleTimeoutMillis: 10_000, application_name: 'iasql', options });
      // An idle client whose backend dies (database dropped, server restart) must not crash the engine.
      pool.on('error', (err) => this.logger.warn({ database, err: err.message }, 'idle connection lost'));
      pool.on('connect', (client) => client.on('error', (err) => this.logger.warn({ database, err: err.message }, 'connection lost')));
      entry = { pool, lastUsed: Date.now() };
      this.pools.set(key, entry);
    }
    entry.lastUsed = Date.now();
    return entry.pool;
  }

  async query<R extends Record<string, unknown> = Record<string, unknown>>(database: string, sql: string, params: unknown[] = []) {
    return this.pool(database).query<R>(sql, params);
  }

  /** Runs `fn` in one transaction on one client of `database`. */
  async transaction<T>(database: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool(database).connect();
    try {
      await client.query('begin');
      const result = await fn(client);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** A dedicated client outside the pools, for session state such as advisory locks. */
  async dedicated(database: string): Promise<Client> {
    const client = new Client({ ...this.settings(database), application_name: 'iasql' });
    // Without a listener, a backend terminated while this client sits idle crashes the process.
    client.on('error', (err) => this.logger.warn({ database, err: err.message }, 'dedicated connection lost'));
    await client.connect();
    return client;
  }

  /** Closes the pools of `database` (before it is dropped). */
  async close(database: string): Promise<void> {
    for (const [key, entry] of this.pools) {
      if (key !== database && !key.startsWith(`${database}#`)) continue;
      this.pools.delete(key);
      await entry.pool.end();
    }
  }

  private async closeIdle() {
    const now = Date.now();
    for (const [key, entry] of this.pools) {
      if (now - entry.lastUsed > this.idleMs && entry.pool.totalCount === entry.pool.idleCount) {
        this.pools.delete(key);
        await entry.pool.end();
      }
    }
  }

  async end(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => e.pool.end()));
  }
}
