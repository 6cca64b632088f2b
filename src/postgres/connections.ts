import { Client, Pool, PoolClient } from 'pg';
import type { Logger } from '../logger';
import { serializeQueries } from './serial-queries';

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

/** A login role and its password. */
export interface RoleCredentials {
  user: string;
  password: string;
}

/**
 * Every engine session starts with this search_path: nothing a tenant creates (a function, an
 * operator, a view, a schema named after a role) can be resolved from it, so engine SQL names its
 * tables with their schema (public.x, iasql_engine.x) and gets builtins from pg_catalog only.
 */
export const ENGINE_SEARCH_PATH = 'pg_catalog, pg_temp';

/**
 * The one connection manager. Every connection the engine opens to the Postgres server goes
 * through here: one pool per database, opened on first use, closed after it has sat idle. Pools
 * are never created per call.
 *
 * Who a connection logs in as is decided here, per database: a managed database is reached only
 * as its own engine role (registered by the DatabaseManager), never with the admin credentials of
 * DATABASE_URL, which are for the metadata and maintenance databases (`adminDatabases`) only. A
 * database that is neither is refused, so a forgotten registration fails loudly instead of running
 * tenant-reachable SQL as a superuser.
 *
 * Every client it hands out runs its queries one at a time (serializeQueries): code sharing a
 * client may fire queries without waiting, and none overlaps another.
 */
export class Connections {
  private readonly pools = new Map<string, { pool: Pool; lastUsed: number }>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly roles = new Map<string, RoleCredentials>();
  private readonly adminDatabases = new Set<string>();
  private resolver?: (database: string) => Promise<RoleCredentials | undefined>;
  /** Set when the engine stops: Postgres ending connections is then expected, not worth a warning. */
  private stopping = false;

  constructor(
    /** Admin URL; its database part is ignored, each pool names its own. */
    private readonly adminUrl: string,
    private readonly logger: Logger,
    private readonly idleMs = 60_000,
  ) {
    this.sweeper = setInterval(() => void this.closeIdle(), Math.min(idleMs, 30_000));
    this.sweeper.unref();
  }

  /** Databases reached with the admin credentials (the metadata and maintenance databases). */
  allowAdmin(database: string): void {
    this.adminDatabases.add(database);
  }

  /** The engine role of a managed database: every connection to it logs in as this role. */
  register(database: string, role: RoleCredentials): void {
    const had = this.roles.get(database);
    this.roles.set(database, role);
    if (had && had.user !== role.user) void this.close(database);
  }

  forget(database: string): void {
    this.roles.delete(database);
  }

  /**
   * Where the engine role of a database not registered yet is looked up: a database another
   * engine process created after this one started (several engines share one metadata database).
   */
  resolveWith(resolver: (database: string) => Promise<RoleCredentials | undefined>): void {
    this.resolver = resolver;
  }

  /** Registers `database`'s engine role if it is not known yet and the resolver knows it. */
  async ensure(database: string): Promise<void> {
    if (this.roles.has(database) || this.adminDatabases.has(database) || !this.resolver) return;
    const role = await this.resolver(database);
    if (role && !this.roles.has(database)) this.roles.set(database, role);
  }

  /** The role connections to `database` use, or undefined for admin databases. Throws for any other. */
  roleFor(database: string): RoleCredentials | undefined {
    const role = this.roles.get(database);
    if (role) return role;
    if (this.adminDatabases.has(database)) return undefined;
    throw new Error(`no engine role is known for database '${database}': the engine connects to a managed database only as its own role`);
  }

  /** Connection settings of `database`: its engine role for a managed database, the admin's for the others. */
  settings(database: string) {
    const base = urlSettings(this.adminUrl, database);
    const role = this.roleFor(database);
    return role ? { ...base, user: role.user, password: role.password } : base;
  }

  /** Connection settings of `database` with the admin role: for creating and dropping databases, roles and extensions only. */
  adminSettings(database: string) {
    return urlSettings(this.adminUrl, database);
  }

  /** Host and port as tenants reach the server (the admin URL's). */
  get endpoint() {
    const { host, port } = urlSettings(this.adminUrl, 'postgres');
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
      const pool = new Pool({ ...this.settings(database), max, idleTimeoutMillis: 10_000, application_name: 'iasql', options: sessionOptions(gucs) });
      // An idle client whose backend dies (database dropped, server restart) must not crash the engine.
      pool.on('error', (err) => this.lost(database, err, 'idle connection lost'));
      pool.on('connect', (client) => {
        serializeQueries(client);
        client.on('error', (err) => this.lost(database, err, 'connection lost'));
      });
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
    const client = serializeQueries(new Client({ ...this.settings(database), application_name: 'iasql', options: sessionOptions({}) }));
    // Without a listener, a backend terminated while this client sits idle crashes the process.
    client.on('error', (err) => this.lost(database, err, 'dedicated connection lost'));
    await client.connect();
    return client;
  }

  /** A dedicated admin client of `database`, for creating a database's schemas and extensions before its tenant may connect. */
  async dedicatedAdmin(database: string): Promise<Client> {
    const client = serializeQueries(new Client({ ...this.adminSettings(database), application_name: 'iasql', options: sessionOptions({}) }));
    client.on('error', (err) => this.lost(database, err, 'dedicated connection lost'));
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

  /** From now on (the engine is stopping), lost connections are logged at debug, not as warnings. */
  quiet(): void {
    this.stopping = true;
  }

  private lost(database: string, err: Error, what: string) {
    if (this.stopping) this.logger.debug({ database, err: err.message }, what);
    else this.logger.warn({ database, err: err.message }, what);
  }

  async end(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => e.pool.end()));
  }
}

/** libpq startup options: the engine's search_path first, then `gucs`. Values are engine constants, never tenant text. */
function sessionOptions(gucs: Record<string, string>): string {
  const all = { search_path: ENGINE_SEARCH_PATH.replace(' ', ''), ...gucs };
  return Object.entries(all).map(([k, v]) => `-c ${k}=${v}`).join(' ');
}

/**
 * A client of `pool`, or an error after `ms`: a pool whose clients are all held (by calls stuck in
 * a handler, say) must not keep the caller waiting for ever. A client that arrives after the
 * deadline goes straight back to the pool.
 */
export function connectWithin(pool: Pool, ms: number, database: string): Promise<PoolClient> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new Error(`no connection to database ${database} came free within ${ms} ms (all ${pool.totalCount} of the engine's are in use)`));
    }, ms);
    pool.connect().then(
      (client) => {
        clearTimeout(timer);
        if (late) client.release();
        else resolve(client);
      },
      (err: Error) => {
        clearTimeout(timer);
        if (!late) reject(err);
      },
    );
  });
}
