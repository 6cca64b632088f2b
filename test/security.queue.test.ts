import * as fs from 'node:fs';
import { Client, escapeIdentifier as ident, Notification } from 'pg';
import { LEGACY_MESSAGE } from '../src/databases/manager';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, tryConnect, uniq, withClient, withDatabase } from './support/engine';
import { queueUrl, rolesOf } from './support/hostile';
import { waitFor } from './support/wait';
import { FIXTURE_MODULES, install, newDatabase } from './support/modules';
import { connect, sqlError } from './support/sql';

/**
 * What someone holding one database's queue credentials (the password in its
 * iasql_internal.rpc_config) can do to the calls of other databases, and the databases the engine
 * cannot serve. rpc.faults.test.ts has the basics (no table reads, no add_job, no argument naming
 * another database, a finished call of B invisible); this file goes further.
 */

const call = (engine: TestEngine, id: string | number) =>
  withClient(serverUrl(engine.config.metadataDatabase), async (m) => (await m.query(`select id, database, status, error from rpc_call where id = $1`, [id])).rows[0]);

const lastCallOf = (engine: TestEngine, database: string, method: string) =>
  withClient(serverUrl(engine.config.metadataDatabase), async (m) =>
    (await m.query(`select id, status from rpc_call where database = $1 and method = $2 order by id desc limit 1`, [database, method])).rows[0],
  );

const runningCall = (engine: TestEngine, database: string, method: string) =>
  waitFor(`a running ${method} call of ${database}`, async () => {
    const c = await lastCallOf(engine, database, method);
    return c?.status === 'running' ? String(c.id) : undefined;
  });

const counter = (url: string, tag: string) =>
  withClient(url, async (t) => (await t.query(`select count(*)::int as n from rpc_counter where tag = $1`, [tag])).rows[0].n);

describe("one database's queue role against another database's calls", () => {
  let engine: TestEngine;
  let a: { name: string; url: string };
  let b: { name: string; url: string };
  let qa: Client;
  beforeAll(async () => {
    // One call per database at a time: a call of A waits while A has one running, whatever else is free.
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 4, rpcConcurrencyPerDatabase: 1 });
    a = await newDatabase(engine, 'qa');
    b = await newDatabase(engine, 'qb');
    await install(engine, a.name, ['fixture_rpc']);
    await install(engine, b.name, ['fixture_rpc']);
    qa = await connect(await queueUrl(engine.config.metadataDatabase, a.name));
  });
  afterAll(async () => {
    await qa.end();
    await stopTestEngine(engine);
  });

  test("cannot run the queue's internal functions, read graphile-worker's tables or create anything", async () => {
    for (const sql of [
      'select * from iasql_rpc_session()',
      `select iasql_rpc_payload(1, 'x', 'fixture_rpc', 'rpc_count', '{}', 'x', 1000)`,
      'select * from graphile_worker.jobs',
      'select * from graphile_worker._private_jobs',
      'select * from typeorm_migration',
      'select * from rollout',
      // The names of the channels calls are announced on.
      'select * from rpc_channel',
    ]) {
      expect({ sql, ...(await sqlError(qa, sql)) }).toMatchObject({ sql, code: '42501' });
    }
    expect(await sqlError(qa, 'create table public.mine (x int)')).toMatchObject({ code: '42501', message: 'permission denied for schema public' });
    expect(await sqlError(qa, 'create schema mine')).toMatchObject({ code: '42501', message: `permission denied for database ${engine.config.metadataDatabase}` });
    // The functions of earlier engines, which took the database as an argument, are not its to call.
    const { rows } = await qa.query(
      `select has_function_privilege(current_user, 'iasql_rpc_enqueue(text, text, text, jsonb, text, integer)', 'execute') as legacy,
              has_function_privilege(current_user, 'iasql_rpc_enqueue(text, text, jsonb, integer)', 'execute') as enqueue`,
    );
    expect(rows).toEqual([{ legacy: false, enqueue: true }]);
  });

  test("cannot connect to any managed database, template1 or postgres", async () => {
    const url = await queueUrl(engine.config.metadataDatabase, a.name);
    for (const database of [a.name, b.name, 'template1', 'postgres']) {
      expect(await tryConnect(withDatabase(url, database))).toBe(`permission denied for database "${database}"`);
    }
  });

  test("a running call of B: invisible to A's queue role, which cannot abandon it or end it by announcing its cancel", async () => {
    const tb = await connect(b.url);
    const pid = (await tb.query('select pg_backend_pid() as pid')).rows[0].pid;
    try {
      await tb.query('set iasql.rpc_timeout_ms = 600000');
      const pending = sqlError(tb, 'select rpc_sleep(600000)');
      const id = await runningCall(engine, b.name, 'rpc_sleep');
      expect((await qa.query('select * from iasql_rpc_status($1)', [id])).rows).toEqual([]);
      expect((await qa.query('select iasql_rpc_progress($1) as p', [id])).rows).toEqual([{ p: null }]);
      expect((await qa.query(`select iasql_rpc_abandon($1, 'cancelled', '{}') as ok`, [id])).rows).toEqual([{ ok: false }]);
      // Anyone connected to the metadata database may NOTIFY any channel: the announcement a
      // caller's abandon sends, naming B's call.
      await qa.query(`select pg_notify('iasql_rpc_cancel', $1)`, [id]);
      // A call of A, announced after it on the same channel listener: once it has run, the
      // worker has handled the cancel announcement.
      await withClient(a.url, (ta) => ta.query(`select rpc_echo('after the forged cancel')`));
      expect((await call(engine, id)).status).toBe('running');
      await withClient(serverUrl(b.name), (adm) => adm.query('select pg_cancel_backend($1)', [pid]));
      expect(await pending).toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
      expect((await call(engine, id)).status).toBe('cancelled');
    } finally {
      await withClient(serverUrl(b.name), (adm) => adm.query('select pg_cancel_backend($1)', [pid]));
      await tb.end();
    }
  });

  test("cannot learn B's calls by listening to the queue's announcements", async () => {
    const heard: Notification[] = [];
    const listener = await connect(await queueUrl(engine.config.metadataDatabase, a.name));
    try {
      listener.on('notification', (n) => heard.push(n));
      await listener.query('LISTEN iasql_rpc_call; LISTEN iasql_rpc_cancel');
      await withClient(b.url, (tb) => tb.query(`select rpc_echo('a secret of b') as v`));
      // A round trip: what was committed before it has been delivered.
      await listener.query('select 1');
      expect(heard.filter((n) => (n.payload ?? '').includes(b.name))).toEqual([]);
      // Nor learn the engine's channels from what the engine's listener last ran (LISTEN ...).
      const { calls, shown } = await withClient(serverUrl(engine.config.metadataDatabase), async (m) => ({
        calls: (await m.query('select calls from rpc_channel')).rows[0].calls as string,
        // The admin does see it there.
        shown: (await m.query(`select count(*)::int as n from pg_stat_activity where query like 'LISTEN %' || (select calls from rpc_channel)`)).rows[0].n,
      }));
      expect(shown).toBe(1);
      for (const c of [listener, await connect(a.url)]) {
        const seen = (await c.query(`select coalesce(string_agg(query, ' '), '') as q from pg_stat_activity`)).rows[0].q as string;
        expect(seen.includes(calls)).toBe(false);
        if (c !== listener) await c.end();
      }
    } finally {
      await listener.end();
    }
  });

  test("cannot make the engine run a call in B by announcing one of A's own calls as B's", async () => {
    // A's only slot is taken: the announcement of A's next call waits its turn in the backlog.
    const sleeping = (await qa.query(`select iasql_rpc_enqueue('fixture_rpc', 'rpc_sleep', '{"ms": 600000}', 600000) as id`)).rows[0].id;
    try {
      await waitFor("A's sleeping call to run", async () => ((await call(engine, sleeping)).status === 'running' ? true : undefined));
      const { tenant: bTenant } = await rolesOf(engine.config.metadataDatabase, b.name);
      await qa.query('begin');
      const id = (await qa.query(`select iasql_rpc_enqueue('fixture_rpc', 'rpc_count', '{"tag": "a legit"}', 60000) as id`)).rows[0].id;
      const forged = { id: Number(id), database: b.name, module: 'fixture_rpc', method: 'rpc_count', args: { tag: 'forged by a' }, caller: bTenant, timeout_ms: 60000 };
      await qa.query(`select pg_notify('iasql_rpc_call', $1)`, [JSON.stringify(forged)]);
      await qa.query('commit');
      // B's own call, announced after the forged one and (one call of B at a time) run only after
      // the worker is done with it: once it returns, the forged announcement has had its effect.
      expect(await withClient(b.url, async (tb) => (await tb.query(`select rpc_count('b marker') as n`)).rows)).toEqual([{ n: 1 }]);
      expect(await counter(b.url, 'forged by a')).toBe(0);
      // A's call runs in A, as enqueued, once A's slot is free.
      expect((await qa.query(`select iasql_rpc_abandon($1, 'cancelled', '{}') as ok`, [sleeping])).rows).toEqual([{ ok: true }]);
      const done = await waitFor("A's call to finish", async () => {
        const c = await call(engine, id);
        return ['queued', 'running'].includes(c.status) ? undefined : c;
      });
      expect(done).toMatchObject({ database: a.name, status: 'succeeded' });
      expect(await counter(a.url, 'a legit')).toBe(1);
      expect(await withClient(b.url, async (tb) => (await tb.query(`select count(*)::int as n from iasql_rpc where opid = $1`, [String(id)])).rows)).toEqual([{ n: 0 }]);
    } finally {
      await qa.query('rollback'); // a no-op unless the test stopped inside its transaction
      await qa.query(`select iasql_rpc_abandon($1, 'cancelled', '{}')`, [sleeping]);
    }
  });
});

describe('a call in a database the engine cannot work in', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES] });
  });
  afterAll(() => stopTestEngine(engine));

  test('ends at once with IQ008 instead of being tried again and again until it times out', async () => {
    const db = await newDatabase(engine, 'broken');
    await withClient(serverUrl(db.name), (adm) => adm.query('drop table iasql_engine.iasql_module cascade'));
    const t = await connect(db.url);
    try {
      // Far beyond the time a retried call would take to fail: an IQ004 here means it was retried.
      await t.query('set iasql.rpc_timeout_ms = 60000');
      expect(await sqlError(t, 'select iasql_version()')).toEqual({
        code: 'IQ008',
        message: `rpc iasql_functions.iasql_version: the engine cannot run calls in database ${db.name}: relation "iasql_engine.iasql_module" does not exist`,
        detail: undefined,
        hint: 'the operator should check the engine log; GET /v1/databases/<name> shows the database',
      });
    } finally {
      await t.end();
    }
    const last = await lastCallOf(engine, db.name, 'iasql_version');
    expect(await call(engine, last.id)).toMatchObject({ status: 'failed', error: { sqlstate: 'IQ008' } });
    // One attempt: the engine logs each one that fails inside it.
    const attempts = engine.logs().split('\n').filter((l) => l.includes('rpc call failed inside the engine') && l.includes(`"call":"${last.id}"`));
    expect(attempts).toHaveLength(1);
    const jobs = await withClient(serverUrl(engine.config.metadataDatabase), async (m) =>
      (await m.query(`select count(*)::int as n from graphile_worker.jobs where key = $1`, [`rpc:${last.id}`])).rows[0].n,
    );
    expect(jobs).toBe(0);
  }, 90_000); // a retried call would fail with IQ004 after its 60 s, and this test with it, not with jest's timeout
});

describe('a database made by an earlier engine (owned by its tenant, no engine role)', () => {
  test('is refused with what to do, logged at start, and can still be dropped', async () => {
    const first = await startTestEngine();
    const meta = first.config.metadataDatabase;
    const name = `legacy_${uniq()}`;
    const owner = `iasql_${uniq()}${uniq().slice(0, 4)}`;
    let second: TestEngine | undefined;
    let firstStopped = false;
    try {
      await withClient(serverUrl(), async (adm) => {
        await adm.query(`create role ${ident(owner)} login password 'legacy-password'`);
        await adm.query(`create database ${ident(name)} owner ${ident(owner)} template template0`);
      });
      await withClient(serverUrl(meta), (m) =>
        m.query(`insert into managed_database (name, role_name, status, engine_version) values ($1, $2, 'ready', '0.0.1')`, [name, owner]),
      );
      await first.stop();
      firstStopped = true;
      second = await startTestEngine({ metadataDatabase: meta });
      const warnings = second.logs().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.msg === LEGACY_MESSAGE('these databases'));
      expect(warnings).toEqual([expect.objectContaining({ level: 40, databases: [name] })]);
      const refusal = { error: { code: 'conflict', message: LEGACY_MESSAGE(`database '${name}'`) } };
      expect(await second.api('GET', `/v1/databases/${name}/modules`)).toEqual({ status: 409, body: refusal });
      expect(await second.api('POST', `/v1/databases/${name}/modules`, { install: ['aws_account'] })).toEqual({ status: 409, body: refusal });
      expect(await second.api('POST', `/v1/databases/${name}/upgrade`)).toEqual({ status: 409, body: refusal });
      // Not touched at start, as the admin or otherwise: no engine SQL went into it.
      const schemas = await withClient(serverUrl(name), async (adm) =>
        (await adm.query(`select nspname from pg_namespace where nspname in ('iasql_internal', 'iasql_engine')`)).rows,
      );
      expect(schemas).toEqual([]);
      expect((await second.api('DELETE', `/v1/databases/${name}`)).status).toBe(204);
      const left = await withClient(serverUrl(), async (adm) => ({
        database: (await adm.query('select count(*)::int as n from pg_database where datname = $1', [name])).rows[0].n,
        role: (await adm.query('select count(*)::int as n from pg_roles where rolname = $1', [owner])).rows[0].n,
      }));
      expect(left).toEqual({ database: 0, role: 0 });
      expect((await second.api('GET', `/v1/databases/${name}`)).status).toBe(404);
    } finally {
      if (second) await stopTestEngine(second);
      else if (!firstStopped) await stopTestEngine(first);
      else await withClient(serverUrl(), (adm) => adm.query(`drop database if exists ${ident(meta)} with (force)`));
      fs.rmSync(first.config.home, { recursive: true, force: true });
      await withClient(serverUrl(), async (adm) => {
        await adm.query(`drop database if exists ${ident(name)} with (force)`);
        await adm.query(`drop role if exists ${ident(owner)}`);
      });
    }
  });
});
