import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { spawnStart, ROOT } from './support/cli';
import { serverUrl, startTestEngine, stopTestEngine, TEST_TOKEN, TestEngine, tryConnect, uniq, withClient, withDatabase } from './support/engine';
import { freePort } from './support/free-port';
import { FIXTURE_MODULES, install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';
import { waitFor } from './support/wait';

/** The status of the newest call of `method` in the queue of `engine`'s metadata database. */
const lastCall = (metadataDatabase: string, method: string) =>
  withClient(serverUrl(metadataDatabase), async (m) => (await m.query(`select id, status, error from rpc_call where method = $1 order by id desc limit 1`, [method])).rows[0]);

const running = (metadataDatabase: string, method: string) =>
  waitFor(`a running ${method} call`, async () => {
    const call = await lastCall(metadataDatabase, method);
    return call?.status === 'running' ? call : undefined;
  });

/** Runs `fn` on the metadata database as `database`'s queue role (what its rpc functions enqueue with). */
async function asQueueRole<T>(engine: TestEngine, database: string, fn: (q: Client) => Promise<T>): Promise<T> {
  const meta = serverUrl(engine.config.metadataDatabase);
  const creds = await withClient(meta, async (m) => (await m.query('select queue_role as role, queue_password as password from managed_database where name = $1', [database])).rows[0]);
  return withClient(meta.replace(/\/\/[^@]+@/, `//${creds.role}:${creds.password}@`), fn);
}

describe('an rpc call that cannot finish', () => {
  let engine: TestEngine;
  let db: { name: string; url: string };
  let c: Client;
  beforeAll(async () => {
    engine = await startModuleEngine();
    db = await newDatabase(engine, 'fault');
    await install(engine, db.name, ['fixture_rpc']);
    c = await connect(db.url);
  });
  afterAll(async () => {
    await c.end();
    await stopTestEngine(engine);
  });

  const noAdvisoryLocksLeft = async (client: Client) => {
    const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid;
    return withClient(serverUrl(db.name), async (a) => (await a.query(`select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = $1`, [pid])).rows[0].n);
  };

  test('times out per call (SET iasql.rpc_timeout_ms): IQ004, marked timed out, the next call works', async () => {
    await c.query('set iasql.rpc_timeout_ms = 300');
    try {
      expect(await sqlError(c, 'select rpc_sleep(30000)')).toEqual({
        code: 'IQ004',
        message: 'rpc fixture_rpc.rpc_sleep timed out after 300 ms',
        detail: undefined,
        hint: 'raise the limit for this call with SET iasql.rpc_timeout_ms = ...',
      });
    } finally {
      await c.query('reset iasql.rpc_timeout_ms');
    }
    // The caller's deadline or the worker's own timer may notice first (a busy machine delays
    // either); both record the call as timed out.
    expect(await lastCall(engine.config.metadataDatabase, 'rpc_sleep')).toMatchObject({
      status: 'timed_out',
      error: { sqlstate: 'IQ004', message: expect.stringMatching(/^(rpc fixture_rpc\.rpc_sleep )?timed out after 300 ms$/) },
    });
    expect((await c.query('select rpc_add(1, 1) as v')).rows).toEqual([{ v: 2 }]);
    expect(await noAdvisoryLocksLeft(c)).toBe(0);
  });

  test('the worker times a call out by itself too: marked timed out, with the SQL error its caller would get', async () => {
    // Enqueued with no caller waiting, so only the worker's timer can end it.
    const id = await asQueueRole(engine, db.name, async (q) =>
      (await q.query(`select iasql_rpc_enqueue('fixture_rpc', 'rpc_sleep', '{"ms": 30000}', 300) as id`)).rows[0].id,
    );
    const call = await waitFor('the call to end', async () => {
      const row = await withClient(serverUrl(engine.config.metadataDatabase), async (m) => (await m.query(`select status, error from rpc_call where id = $1`, [id])).rows[0]);
      return ['queued', 'running'].includes(row.status) ? undefined : row;
    });
    expect(call).toEqual({
      status: 'timed_out',
      error: { sqlstate: 'IQ004', message: 'rpc fixture_rpc.rpc_sleep timed out after 300 ms', hint: 'raise the limit for this call with SET iasql.rpc_timeout_ms = ...' },
    });
    const history = await waitFor('the history row', async () => (await c.query('select err from iasql_rpc where opid = $1', [id])).rows[0]);
    expect(history.err).toBe('rpc fixture_rpc.rpc_sleep timed out after 300 ms');
    expect((await c.query('select rpc_add(1, 2) as v')).rows).toEqual([{ v: 3 }]);
  });

  test('statement_timeout ends the wait too, and the call is marked timed out', async () => {
    await c.query('set statement_timeout = 300');
    try {
      expect(await sqlError(c, 'select rpc_sleep(30000)')).toMatchObject({ code: '57014', message: 'canceling statement due to statement timeout' });
    } finally {
      await c.query('reset statement_timeout');
    }
    expect((await lastCall(engine.config.metadataDatabase, 'rpc_sleep')).status).toBe('timed_out');
    expect((await c.query(`select rpc_echo('ok') as v`)).rows).toEqual([{ v: 'ok' }]);
  });

  test('cancelling the caller (Ctrl-C, pg_cancel_backend) leaves no stuck call and no lock; the next call works', async () => {
    const pid = (await c.query('select pg_backend_pid() as pid')).rows[0].pid;
    const pending = sqlError(c, 'select rpc_sleep(30000)');
    await running(engine.config.metadataDatabase, 'rpc_sleep');
    await withClient(serverUrl(db.name), (a) => a.query('select pg_cancel_backend($1)', [pid]));
    expect(await pending).toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
    expect((await lastCall(engine.config.metadataDatabase, 'rpc_sleep')).status).toBe('cancelled');
    expect(await noAdvisoryLocksLeft(c)).toBe(0);
    expect((await c.query('select rpc_add(2, 3) as v')).rows).toEqual([{ v: 5 }]);
  });

  test('a call needing rows its own caller has locked is a clear deadlock error, not a hang', async () => {
    await c.query('insert into rpc_item values (1, 0) on conflict (id) do nothing');
    await c.query('begin');
    try {
      await c.query('update rpc_item set n = n + 10 where id = 1');
      expect(await sqlError(c, 'select rpc_touch(1)')).toEqual({
        code: 'IQ006',
        message: 'rpc fixture_rpc.rpc_touch needs rows or tables your own transaction holds locks on',
        detail: undefined,
        hint: 'commit or roll back the changes first, or call it outside the transaction',
      });
    } finally {
      await c.query('rollback');
    }
    // The call is over (its history row is written last) and its statement was cancelled, not applied.
    const call = await lastCall(engine.config.metadataDatabase, 'rpc_touch');
    expect(call.status).toBe('failed');
    const history = await waitFor('the history row', async () => (await c.query('select err from iasql_rpc where opid = $1', [call.id])).rows[0]);
    // Whichever side Postgres picked as the deadlock victim, the handler did not finish.
    expect(history.err).toMatch(/^(rpc fixture_rpc.rpc_touch needs rows or tables your own transaction holds locks on|the caller gave up on this call|rpc fixture_rpc.rpc_touch failed: canceling statement due to user request)$/);
    expect((await c.query('select n from rpc_item where id = 1')).rows).toEqual([{ n: 0 }]);
    // Outside the transaction it works.
    expect((await c.query('select rpc_touch(1) as v')).rows).toEqual([{ v: 1 }]);
  });
});

describe('isolation of the queue credentials', () => {
  let engine: TestEngine;
  let a: { name: string; url: string };
  let b: { name: string; url: string };
  beforeAll(async () => {
    engine = await startModuleEngine();
    a = await newDatabase(engine, 'isoa');
    b = await newDatabase(engine, 'isob');
    await install(engine, a.name, ['fixture_rpc']);
    await install(engine, b.name, ['fixture_rpc']);
  });
  afterAll(() => stopTestEngine(engine));

  test('a tenant role cannot read the enqueue credentials, call the entry point or use dblink', async () => {
    await withClient(a.url, async (t) => {
      expect(await sqlError(t, 'select conninfo from iasql_internal.rpc_config')).toMatchObject({ code: '42501', message: 'permission denied for schema iasql_internal' });
      expect(await sqlError(t, `select iasql_internal.rpc_call('fixture_rpc', 'rpc_count', '{"tag": "x"}', 1000)`)).toMatchObject({ code: '42501' });
      expect(await sqlError(t, `select iasql_internal.dblink_get_connections()`)).toMatchObject({ code: '42501' });
    });
  });

  test("a database's queue role may only enqueue and follow that database's calls", async () => {
    const meta = serverUrl(engine.config.metadataDatabase);
    const creds = async (name: string) =>
      withClient(meta, async (m) => (await m.query('select queue_role as role, queue_password as password from managed_database where name = $1', [name])).rows[0]);
    const qa = await creds(a.name);
    const url = withDatabase(meta, engine.config.metadataDatabase).replace(/\/\/[^@]+@/, `//${qa.role}:${qa.password}@`);
    // A call of B, to aim at with A's credentials.
    await withClient(b.url, (t) => t.query(`select rpc_count('from-b')`));
    const bCall = await withClient(meta, async (m) => (await m.query(`select id from rpc_call where database = $1 order by id desc limit 1`, [b.name])).rows[0].id);
    await withClient(url, async (q) => {
      expect(await sqlError(q, 'select * from rpc_call')).toMatchObject({ code: '42501', message: 'permission denied for table rpc_call' });
      expect(await sqlError(q, 'select * from managed_database')).toMatchObject({ code: '42501' });
      expect(await sqlError(q, `select graphile_worker.add_job('rpc', '{}')`)).toMatchObject({ code: '42501' });
      // The database and the caller come from the session: there is no argument to name B with.
      expect(await sqlError(q, `select iasql_rpc_enqueue('${b.name}', 'fixture_rpc', 'rpc_count', '{}', 'x', 1000)`)).toMatchObject({ code: '42501' });
      const { rows } = await q.query(`select iasql_rpc_enqueue('iasql_functions', 'iasql_version', '{}', 1000) as id`);
      // B's call is invisible and cannot be abandoned.
      expect((await q.query('select * from iasql_rpc_status($1)', [bCall])).rows).toEqual([]);
      expect((await q.query(`select iasql_rpc_abandon($1, 'cancelled', '{}') as ok`, [bCall])).rows).toEqual([{ ok: false }]);
      expect((await q.query('select iasql_rpc_progress($1) as p', [bCall])).rows).toEqual([{ p: null }]);
      const mine = await withClient(meta, async (m) => (await m.query('select database, caller from rpc_call where id = $1', [rows[0].id])).rows[0]);
      expect(mine.database).toBe(a.name);
      expect(mine.caller).toMatch(/^iasql_[0-9a-f]{12}$/);
    });
    // Without the password nothing connects as it, and it reaches no managed database.
    expect(await tryConnect(url.replace(qa.password, 'wrong-password'))).toMatch(/password authentication failed/);
    expect(await tryConnect(withDatabase(url, a.name))).toMatch(/permission denied for database/);
  });

  test('a call from database A acts on A only', async () => {
    await withClient(a.url, (t) => t.query(`select rpc_count('from-a')`));
    const count = (url: string) => withClient(url, async (t) => (await t.query(`select count(*)::int as n from rpc_counter where tag = 'from-a'`)).rows[0].n);
    expect(await count(a.url)).toBe(1);
    expect(await count(b.url)).toBe(0);
  });
});

describe('two engine processes on one Postgres', () => {
  test('an engine serves a database another engine created after it started (its calls and its REST routes)', async () => {
    const first = await startModuleEngine();
    const second = await startTestEngine({ metadataDatabase: first.config.metadataDatabase, modulePath: [FIXTURE_MODULES] });
    try {
      const db = await newDatabase(first, 'later');
      // Only the second engine runs calls now; it learns the new database's engine role from the registry.
      await first.worker!.stop();
      const c = await connect(db.url);
      try {
        expect((await c.query('select iasql_version() as v')).rows).toEqual([{ v: expect.any(String) }]);
      } finally {
        await c.end();
      }
      expect((await second.api('GET', `/v1/databases/${db.name}/modules`)).status).toBe(200);
    } finally {
      await stopTestEngine(second);
      await stopTestEngine(first);
    }
  });

  test('every call runs exactly once', async () => {
    const first = await startModuleEngine();
    const second = await startTestEngine({ metadataDatabase: first.config.metadataDatabase, modulePath: [FIXTURE_MODULES] });
    try {
      const db = await newDatabase(first, 'twice');
      await install(first, db.name, ['fixture_rpc']);
      const clients = await Promise.all(Array.from({ length: 6 }, () => connect(db.url)));
      try {
        await Promise.all(clients.map(async (cl) => {
          for (let i = 0; i < 10; i++) await cl.query(`select rpc_count('once')`);
        }));
      } finally {
        await Promise.all(clients.map((cl) => cl.end()));
      }
      await withClient(db.url, async (t) => {
        expect((await t.query(`select count(*)::int as n from rpc_counter where tag = 'once'`)).rows).toEqual([{ n: 60 }]);
        expect((await t.query(`select count(*)::int as n, count(distinct opid)::int as d from iasql_rpc where method_name = 'rpc_count'`)).rows).toEqual([{ n: 60, d: 60 }]);
      });
      const calls = await withClient(serverUrl(first.config.metadataDatabase), (m) =>
        m.query(`select status, count(*)::int as n from rpc_call where method = 'rpc_count' group by status`),
      );
      expect(calls.rows).toEqual([{ status: 'succeeded', n: 60 }]);
    } finally {
      await second.stop();
      await stopTestEngine(first);
    }
  });
});

describe('the engine running a call is killed', () => {
  test('the caller gets IQ005 at once instead of hanging; the call is marked failed', async () => {
    const meta = `meta_kill_${uniq()}`;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-kill-'));
    const port = await freePort();
    const child = await spawnStart({
      DATABASE_URL: serverUrl(),
      IASQL_HOME: home,
      IASQL_API_PORT: String(port),
      IASQL_METADATA_DB: meta,
      IASQL_DEFAULT_DATABASE: '',
      IASQL_ADMIN_TOKEN: TEST_TOKEN,
      IASQL_MODULE_PATH: path.join(ROOT, 'dist', 'test', 'fixtures', 'modules'),
    });
    const api = async (method: string, route: string, body?: unknown) =>
      (await fetch(`http://127.0.0.1:${port}${route}`, { method, headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })).json() as Promise<any>;
    try {
      const created = await api('POST', '/v1/databases', { name: `kill_${uniq()}` });
      await api('POST', `/v1/databases/${created.name}/modules`, { install: ['fixture_rpc'] });
      const c = await connect(created.connectionString);
      try {
        const pending = sqlError(c, 'select rpc_sleep(60000)');
        await running(meta, 'rpc_sleep');
        child.child.kill('SIGKILL');
        expect(await pending).toEqual({
          code: 'IQ005',
          message: 'rpc fixture_rpc.rpc_sleep: the engine running this call stopped before it finished',
          detail: undefined,
          hint: 'the call may have been partly done; check its effects, then call again',
        });
        expect((await lastCall(meta, 'rpc_sleep')).status).toBe('failed');
      } finally {
        await c.end();
      }
    } finally {
      if (child.child.exitCode === null) child.child.kill('SIGKILL');
      await child.exited;
      const cleanup = await startTestEngine({ metadataDatabase: meta, modulePath: [FIXTURE_MODULES] });
      await stopTestEngine(cleanup);
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('a call no worker takes (no engine runs a worker)', () => {
  let engine: TestEngine;
  let db: { name: string; url: string };
  let c: Client;
  beforeAll(async () => {
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 0 });
    db = await newDatabase(engine, 'noworker');
    await install(engine, db.name, ['fixture_rpc']);
    c = await connect(db.url);
  });
  afterAll(async () => {
    await c.end();
    await stopTestEngine(engine);
  });

  test('times out with IQ004 while queued, and is marked timed out so no worker runs it later', async () => {
    await c.query('set iasql.rpc_timeout_ms = 250');
    expect(await sqlError(c, `select rpc_echo('never')`)).toMatchObject({ code: 'IQ004', message: 'rpc fixture_rpc.rpc_echo timed out after 250 ms' });
    await c.query('reset iasql.rpc_timeout_ms');
    expect((await lastCall(engine.config.metadataDatabase, 'rpc_echo')).status).toBe('timed_out');
  });

  test('cancelling while queued is clean, and the session can call again', async () => {
    const pid = (await c.query('select pg_backend_pid() as pid')).rows[0].pid;
    const pending = sqlError(c, `select rpc_add(1, 1)`);
    await waitFor('a queued call', async () => ((await lastCall(engine.config.metadataDatabase, 'rpc_add'))?.status === 'queued' ? true : undefined));
    await withClient(serverUrl(db.name), (a) => a.query('select pg_cancel_backend($1)', [pid]));
    expect(await pending).toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
    expect((await lastCall(engine.config.metadataDatabase, 'rpc_add')).status).toBe('cancelled');
    // The same session (and its dblink connection) still works: this call times out normally.
    await c.query('set iasql.rpc_timeout_ms = 100');
    expect((await sqlError(c, `select rpc_add(2, 2)`)).code).toBe('IQ004');
    await c.query('reset iasql.rpc_timeout_ms');
  });
});

describe('a call no engine takes from its notification', () => {
  test('gets its graphile-worker job while its caller waits, and runs', async () => {
    const engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 2 });
    try {
      const db = await newDatabase(engine, 'unheard');
      await install(engine, db.name, ['fixture_rpc']);
      // The worker stops hearing announcements (as while its LISTEN connection reconnects, or
      // when the engine that had the call in its backlog died); its graphile runner still works.
      const { calls } = await withClient(serverUrl(engine.config.metadataDatabase), async (m) => (await m.query('select calls from rpc_channel')).rows[0]);
      await (engine.worker as unknown as { listener: Client }).listener.query(`UNLISTEN ${calls}`);
      const c = await connect(db.url);
      try {
        await c.query('set iasql.rpc_timeout_ms = 20000');
        expect((await c.query('select rpc_add(2, 40) as v')).rows).toEqual([{ v: 42 }]);
        expect((await c.query(`select rpc_echo('by the job') as v`)).rows).toEqual([{ v: 'by the job' }]);
        expect(await lastCall(engine.config.metadataDatabase, 'rpc_echo')).toMatchObject({ status: 'succeeded' });
      } finally {
        await c.end();
      }
    } finally {
      await stopTestEngine(engine);
    }
  });

  test('more calls than worker slots: the rest wait in the backlog or go by their jobs, and all run', async () => {
    const engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 1 });
    try {
      const db = await newDatabase(engine, 'busy');
      await install(engine, db.name, ['fixture_rpc']);
      const clients = await Promise.all(Array.from({ length: 6 }, () => connect(db.url)));
      try {
        const results = await Promise.all(clients.map((cl, i) => cl.query(`select rpc_sleep(${100 + i * 20}) as v`)));
        expect(results.map((r) => r.rows)).toEqual(clients.map(() => [{ v: 'slept' }]));
        const { rows } = await withClient(serverUrl(engine.config.metadataDatabase), (m) =>
          m.query(`select status, count(*)::int as n from rpc_call where method = 'rpc_sleep' group by status`),
        );
        expect(rows).toEqual([{ status: 'succeeded', n: 6 }]);
      } finally {
        await Promise.all(clients.map((cl) => cl.end()));
      }
    } finally {
      await stopTestEngine(engine);
    }
  });
});

describe('a call whose key an engine worker holds (its fast path, between lock and claim)', () => {
  test('is left to that worker, however long it takes: never failed as squatted', async () => {
    const engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 1 });
    try {
      const db = await newDatabase(engine, 'slowpath');
      await install(engine, db.name, ['fixture_rpc']);
      const next = await withClient(serverUrl(engine.config.metadataDatabase), async (m) =>
        Number((await m.query(`select nextval(pg_get_serial_sequence('rpc_call', 'id')) + 1 as n`)).rows[0].n),
      );
      // As an engine worker connects: the engine's role, application_name iasql. It never claims.
      const worker = new Client({ ...engine.conns.settings(db.name), application_name: 'iasql' });
      await worker.connect();
      const c = await connect(db.url);
      try {
        await worker.query('select pg_advisory_lock($1::bigint)', [next]);
        await c.query('set iasql.rpc_timeout_ms = 400');
        // Before: the job gave such a worker 20 ms, then failed the call as squatted by a tenant.
        expect(await sqlError(c, `select rpc_echo('waits')`)).toMatchObject({ code: 'IQ004' });
      } finally {
        await worker.end();
        await c.end();
      }
    } finally {
      await stopTestEngine(engine);
    }
  });
});

describe('a tenant holding the advisory lock key of a call', () => {
  test('fails that call with a clear error; the worker slot is not stalled', async () => {
    const engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 1 });
    try {
      const db = await newDatabase(engine, 'squat');
      await install(engine, db.name, ['fixture_rpc']);
      const next = await withClient(serverUrl(engine.config.metadataDatabase), async (m) =>
        Number((await m.query(`select nextval(pg_get_serial_sequence('rpc_call', 'id')) + 1 as n`)).rows[0].n),
      );
      const squatter = await connect(db.url);
      const c = await connect(db.url);
      try {
        await squatter.query('select pg_advisory_lock($1::bigint)', [next]);
        expect(await sqlError(c, `select rpc_echo('blocked')`)).toEqual({
          code: 'IQ001',
          message: `rpc fixture_rpc.rpc_echo: another session of database ${db.name} holds the advisory lock ${next}, which this call needs`,
          detail: undefined,
          hint: 'release it (pg_advisory_unlock_all()) and call again',
        });
        // The only worker slot is free: the next call runs.
        expect((await c.query(`select rpc_echo('free') as v`)).rows).toEqual([{ v: 'free' }]);
      } finally {
        await squatter.end();
        await c.end();
      }
    } finally {
      await stopTestEngine(engine);
    }
  });
});

describe('stopping the engine while a call runs', () => {
  test('waits for the call to finish: the caller gets its result', async () => {
    const engine = await startModuleEngine();
    const db = await newDatabase(engine, 'graceful');
    await install(engine, db.name, ['fixture_rpc']);
    const c = await connect(db.url);
    try {
      const pending = c.query('select rpc_sleep(300) as v');
      await running(engine.config.metadataDatabase, 'rpc_sleep');
      await engine.stop();
      // stop() returned only after the running call had finished and stored its outcome.
      expect((await lastCall(engine.config.metadataDatabase, 'rpc_sleep')).status).toBe('succeeded');
      expect((await pending).rows).toEqual([{ v: 'slept' }]);
    } finally {
      await c.end();
      const cleanup = await startTestEngine({ metadataDatabase: engine.config.metadataDatabase, modulePath: [FIXTURE_MODULES] });
      await stopTestEngine(cleanup);
    }
  });
});
