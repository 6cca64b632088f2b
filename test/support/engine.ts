import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import type { Config } from '../../src/config';
import { startEngine, type Engine } from '../../src/engine';
import { createLogger } from '../../src/logger';

export const TEST_TOKEN = 'test-admin-token-0123456789abcdef';

/** Superuser URL of the run's Postgres (started in global-setup.ts). */
export function serverUrl(database = 'postgres'): string {
  const url = process.env.IASQL_TEST_DATABASE_URL;
  if (!url) throw new Error('IASQL_TEST_DATABASE_URL is not set: run the tests through jest (global-setup starts Postgres)');
  const u = new URL(url);
  u.pathname = `/${database}`;
  // In a managed database, the admin finds the engine's tables first, then the module tables: an
  // admin session must never resolve a name through what a tenant created (docs/security.md,
  // "Operators in a tenant's database").
  if (database !== 'postgres' && !database.startsWith('meta_')) u.searchParams.set('options', '-c search_path=iasql_engine,public');
  return u.toString();
}

/** A short unique suffix, so test files sharing the server never collide on names. */
export const uniq = () => randomBytes(4).toString('hex');

export interface TestEngine extends Engine {
  config: Config;
  /** Everything the engine logged, as text. */
  logs(): string;
  /** fetch against the API with the admin token (or another one). */
  api(method: string, route: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
}

/** An engine in this process on the run's Postgres (DATABASE_URL mode), with its own metadata database. */
export async function startTestEngine(overrides: Partial<Config> = {}): Promise<TestEngine> {
  const config: Config = {
    databaseUrl: serverUrl(),
    home: fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-test-home-')),
    apiHost: '127.0.0.1',
    apiPort: 0,
    pgPort: 0,
    adminToken: TEST_TOKEN,
    modulePath: [],
    logLevel: 'debug',
    metadataDatabase: `meta_${uniq()}`,
    defaultDatabase: '',
    workerConcurrency: 4,
    rpcHistoryDays: 30,
    rpcHistoryMax: 10000,
    // Each test engine has its own, on a free port, keeping nothing.
    localCloud: 'memory',
    localCloudPort: 0,
    ...overrides,
  };
  let logText = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const engine = await startEngine(config, createLogger(config.logLevel, sink));
  return {
    ...engine,
    config,
    logs: () => logText,
    async api(method, route, body, token = TEST_TOKEN) {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (typeof body === 'string') {
        payload = body;
        headers['content-type'] = 'application/json';
      } else if (body !== undefined) {
        payload = JSON.stringify(body);
        headers['content-type'] = 'application/json';
      }
      const res = await fetch(engine.apiUrl + route, { method, headers, body: payload });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

/** Stops the engine and removes its metadata database and home. */
export async function stopTestEngine(engine: TestEngine | undefined): Promise<void> {
  if (!engine) return;
  for (const db of await engine.databases.list().catch(() => [])) await engine.databases.drop(db.name).catch(() => undefined);
  await engine.stop();
  await withClient(serverUrl(), (c) => c.query(`drop database if exists "${engine.config.metadataDatabase}" with (force)`));
  fs.rmSync(engine.config.home, { recursive: true, force: true });
}

export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Connects with `url` and returns the error message, or 'connected'. */
export async function tryConnect(url: string): Promise<string> {
  const c = new Client({ connectionString: url });
  try {
    await c.connect();
    await c.end();
    return 'connected';
  } catch (err) {
    return (err as Error).message;
  }
}

/** The same URL with another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Drops databases (and their owner roles) an engine process made on the run's server, for tests that spawn one. */
export async function dropDatabasesAndOwners(names: string[]): Promise<void> {
  await withClient(serverUrl(), async (c) => {
    const { rows } = await c.query<{ datname: string; owner: string }>(
      `select datname, pg_get_userbyid(datdba) as owner from pg_database where datname = any($1)`,
      [names],
    );
    for (const r of rows) {
      await c.query(`drop database if exists "${r.datname}" with (force)`);
      if (r.owner.startsWith('iasql_')) await c.query(`drop role if exists "${r.owner}"`);
    }
  });
}
