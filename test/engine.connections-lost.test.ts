import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dropDatabasesAndOwners, serverUrl, TEST_TOKEN, uniq, withClient } from './support/engine';
import { spawnStart, StartedEngine } from './support/cli';
import { freePort } from './support/free-port';

// Every long-lived connection of the engine must survive its backend being terminated (a failover,
// an operator's pg_terminate_backend, an idle-session killer): a pg client with no 'error' listener
// would crash the whole process. The engine runs as its own process here, so a crash shows.
let running: StartedEngine;
let home: string;
const meta = `meta_${uniq()}`;
const first = `lost_${uniq()}`;
let apiUrl: string;
const created: string[] = [];

const api = async (method: string, route: string, body?: unknown) => {
  const res = await fetch(apiUrl + route, {
    method,
    headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

/** Terminates every backend of the engine's databases except this one; returns how many. */
const terminateAll = () =>
  withClient(serverUrl(), async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `select count(*) filter (where pg_terminate_backend(pid))::int as n from pg_stat_activity
       where datname = any($1) and pid <> pg_backend_pid()`,
      [[meta, first]],
    );
    return rows[0].n;
  });

/** Waits (bounded) until `check` holds; returns its last value. */
async function eventually<T>(check: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  let v = await check();
  while (!ok(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    v = await check();
  }
  return v;
}

const listeners = () =>
  withClient(serverUrl(), async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = $1 and query like 'LISTEN iasql_rpc_cancel%'`,
      [meta],
    );
    return rows[0].n;
  });

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-lost-'));
  running = await spawnStart({
    DATABASE_URL: serverUrl(),
    IASQL_HOME: home,
    IASQL_API_PORT: String(await freePort()),
    IASQL_ADMIN_TOKEN: TEST_TOKEN,
    IASQL_METADATA_DB: meta,
    IASQL_DEFAULT_DATABASE: first,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
  });
  apiUrl = running.stdout().match(/http:\/\/127\.0\.0\.1:\d+/)![0];
});

afterAll(async () => {
  if (running.child.exitCode === null) {
    running.child.kill('SIGINT');
    await running.exited;
  }
  await dropDatabasesAndOwners([meta, first, ...created]);
  fs.rmSync(home, { recursive: true, force: true });
});

test('the engine keeps serving REST and rpc after every one of its connections is terminated, twice', async () => {
  const url = fs.readFileSync(path.join(home, 'databases', `${first}.url`), 'utf8').trim();
  const version = () => withClient(url, async (c) => (await c.query('select iasql_version() as v')).rows[0].v);
  expect(await version()).toBe('0.1.0');
  expect(await eventually(listeners, (n) => n === 1)).toBe(1);

  for (let round = 1; round <= 2; round++) {
    expect(await terminateAll()).toBeGreaterThan(2);
    // Still alive, and every kind of work still works: REST on the metadata database, a new
    // managed database, an rpc call from a new tenant session (new dblink, queue and worker connections).
    expect(running.child.exitCode).toBeNull();
    expect((await api('GET', '/v1/databases')).status).toBe(200);
    const name = `lost_${uniq()}`;
    created.push(name);
    const made = await api('POST', '/v1/databases', { name });
    expect(made.status).toBe(201);
    expect(await version()).toBe('0.1.0');
    expect(await withClient(made.body.connectionString, async (c) => (await c.query('select iasql_version() as v')).rows[0].v)).toBe('0.1.0');
    // The fast-path listener came back (calls would otherwise wait for the job poll).
    expect(await eventually(listeners, (n) => n === 1)).toBe(1);
    expect((await api('GET', '/health')).body).toEqual({ status: 'ok', postgres: 'ok' });
  }
  expect(running.child.exitCode).toBeNull();
  expect(running.stderr()).not.toMatch(/Unhandled 'error' event|Emitted 'error' event/);
  expect(running.stderr()).toContain('rpc listener lost; reconnecting');
});
