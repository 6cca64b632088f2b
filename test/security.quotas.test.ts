import { Client } from 'pg';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, tryConnect, withClient } from './support/engine';
import { roleOf, rolesOf } from './support/hostile';
import { waitFor } from './support/wait';
import { FIXTURE_MODULES, install, newDatabase } from './support/modules';
import { connect, sqlError } from './support/sql';

/**
 * The quotas a tenant meets from SQL: what psql shows when it asks for more than its share, and
 * that one tenant's calls cannot keep another's from running.
 */

const calls = (engine: TestEngine, database: string, method: string) =>
  withClient(serverUrl(engine.config.metadataDatabase), async (m) =>
    (await m.query(`select id, status, timeout_ms, error from rpc_call where database = $1 and method = $2 order by id`, [database, method])).rows,
  );

/** NOTICEs the statement raised (as psql prints them), with its result. */
async function withNotices<T>(c: Client, fn: () => Promise<T>): Promise<{ result: T; notices: string[] }> {
  const notices: string[] = [];
  const listener = (n: { message?: string }) => notices.push(n.message ?? '');
  c.on('notice', listener);
  try {
    return { result: await fn(), notices };
  } finally {
    c.off('notice', listener);
  }
}

describe('limits of one call', () => {
  let engine: TestEngine;
  let db: { name: string; url: string };
  let t: Client;
  beforeAll(async () => {
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], rpcTimeoutMaxMs: 2000, rpcMaxArgsBytes: 2048, rpcMaxResultBytes: 4096, tenantConnectionLimit: 3 });
    db = await newDatabase(engine, 'quota');
    await install(engine, db.name, ['fixture_rpc']);
    t = await connect(db.url);
  });
  afterAll(async () => {
    await t.end();
    await stopTestEngine(engine);
  });

  test('iasql.rpc_timeout_ms above the ceiling is lowered to it, with a NOTICE saying so', async () => {
    await t.query('set iasql.rpc_timeout_ms = 999999');
    try {
      const { result, notices } = await withNotices(t, () => t.query(`select rpc_echo('within the ceiling') as v`));
      expect(result.rows).toEqual([{ v: 'within the ceiling' }]);
      expect(notices).toEqual(["iasql.rpc_timeout_ms 999999 is above this database's ceiling; using 2000 ms"]);
      expect((await calls(engine, db.name, 'rpc_echo')).at(-1)).toMatchObject({ status: 'succeeded', timeout_ms: 2000 });
      // The ceiling is what the call gets: a longer one times out there.
      expect(await sqlError(t, 'select rpc_sleep(60000)')).toEqual({
        code: 'IQ004',
        message: 'rpc fixture_rpc.rpc_sleep timed out after 2000 ms',
        detail: undefined,
        hint: 'raise the limit for this call with SET iasql.rpc_timeout_ms = ...',
      });
    } finally {
      await t.query('reset iasql.rpc_timeout_ms');
    }
  });

  test("a method's own timeout above the ceiling is cut to it without a NOTICE (the caller asked for nothing)", async () => {
    const { result, notices } = await withNotices(t, () => t.query(`select rpc_echo('method timeout') as v`));
    expect(result.rows).toEqual([{ v: 'method timeout' }]);
    expect(notices).toEqual([]);
    expect((await calls(engine, db.name, 'rpc_echo')).at(-1)).toMatchObject({ status: 'succeeded', timeout_ms: 2000 });
  });

  test('iasql.rpc_timeout_ms that is not a positive whole number is refused with IQ002, before anything is enqueued', async () => {
    const before = (await calls(engine, db.name, 'rpc_echo')).length;
    for (const value of ['abc', '0', '-5', '1.5', '1e9', '9999999999999']) {
      await t.query(`select set_config('iasql.rpc_timeout_ms', $1, false)`, [value]);
      expect(await sqlError(t, `select rpc_echo('never')`)).toEqual({
        code: 'IQ002',
        message: `iasql.rpc_timeout_ms '${value}' is not a positive whole number of milliseconds`,
        detail: undefined,
        hint: "e.g. SET iasql.rpc_timeout_ms = 300000 (or RESET iasql.rpc_timeout_ms for the method's own timeout)",
      });
    }
    await t.query('reset iasql.rpc_timeout_ms');
    expect((await calls(engine, db.name, 'rpc_echo')).length).toBe(before);
  });

  test('arguments over the limit (in bytes) are refused with IQ002, before anything is enqueued', async () => {
    const before = (await calls(engine, db.name, 'rpc_echo')).length;
    // {"times": 1, "value": "..."}: 25 bytes around the value; é is two bytes.
    for (const [value, bytes] of [['x'.repeat(3000), 3025], ['é'.repeat(1100), 2225]] as const) {
      expect(await sqlError(t, 'select rpc_echo($1)', [value])).toEqual({
        code: 'IQ002',
        message: `rpc fixture_rpc.rpc_echo: the arguments are ${bytes} bytes, more than this database's limit of 2048 bytes`,
        detail: undefined,
        hint: 'pass less per call (the operator sets the limit with IASQL_RPC_MAX_ARGS_BYTES)',
      });
    }
    expect((await calls(engine, db.name, 'rpc_echo')).length).toBe(before);
    // Under the limit, the same call runs.
    expect((await t.query('select length(rpc_echo($1)) as n', ['x'.repeat(2000)])).rows).toEqual([{ n: 2000 }]);
  });

  test('a result over the limit fails the call with IQ002', async () => {
    // rpc_echo('x', 5000): the result is a JSON string of 5000 characters and its two quotes.
    expect(await sqlError(t, `select rpc_echo('x', 5000)`)).toEqual({
      code: 'IQ002',
      message: 'rpc fixture_rpc.rpc_echo: the result is 5002 bytes, more than the limit of 4096 bytes',
      detail: undefined,
      hint: 'ask for less per call (e.g. a narrower query or a page), or the operator raises IASQL_RPC_MAX_RESULT_BYTES',
    });
    expect((await calls(engine, db.name, 'rpc_echo')).at(-1)).toMatchObject({ status: 'failed', error: { sqlstate: 'IQ002' } });
    expect((await t.query(`select count(*)::int as n from rpc_items(10)`)).rows).toEqual([{ n: 10 }]);
    expect((await sqlError(t, `select count(*) from rpc_items(1000)`)).message).toMatch(/^rpc fixture_rpc\.rpc_items: the result is \d+ bytes, more than the limit of 4096 bytes$/);
  });

  test('the tenant role has a connection limit: one more session is refused', async () => {
    const other = await newDatabase(engine, 'connlimit');
    const { tenant, queue } = await rolesOf(engine.config.metadataDatabase, other.name);
    const limits = await withClient(serverUrl(), async (a) =>
      (await a.query(`select rolname, rolconnlimit from pg_roles where rolname = any($1) order by rolname`, [[tenant, queue]])).rows,
    );
    expect(limits).toEqual([{ rolname: tenant, rolconnlimit: 3 }, { rolname: queue, rolconnlimit: 3 }].sort((x, y) => x.rolname.localeCompare(y.rolname)));
    const open = await Promise.all([1, 2, 3].map(() => connect(other.url)));
    try {
      expect(await tryConnect(other.url)).toBe(`too many connections for role "${roleOf(other.url)}"`);
      // The engine's own sessions are not the tenant's: it still works in the database.
      expect((await install(engine, other.name, ['fixture_rpc'])).status).toBe(200);
      expect((await open[0].query(`select rpc_add(1, 2) as v`)).rows).toEqual([{ v: 3 }]);
    } finally {
      await Promise.all(open.map((c) => c.end()));
    }
    expect(await tryConnect(other.url)).toBe('connected');
  });
});

describe('calls of one database per engine process', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    // Four calls at once in this process, two of them at most for one database.
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 4, rpcConcurrencyPerDatabase: 2 });
  });
  afterAll(() => stopTestEngine(engine));

  test("one tenant's slow calls, more than the engine runs at once, do not keep another tenant's call from running", async () => {
    const a = await newDatabase(engine, 'busy');
    const b = await newDatabase(engine, 'calm');
    await install(engine, a.name, ['fixture_rpc']);
    await install(engine, b.name, ['fixture_rpc']);
    // Eight calls: more than the four slots of the notification path and the four of the job path together.
    const sessions = await Promise.all(Array.from({ length: 8 }, () => connect(a.url)));
    const pids: number[] = [];
    const cancelAll = () => withClient(serverUrl(a.name), (adm) => adm.query('select pg_cancel_backend(pid) from unnest($1::int[]) pid', [pids]));
    let pending: Array<Promise<unknown>> = [];
    try {
      for (const s of sessions) {
        pids.push((await s.query('select pg_backend_pid() as pid')).rows[0].pid);
        await s.query('set iasql.rpc_timeout_ms = 600000');
      }
      pending = sessions.map((s) => sqlError(s, 'select rpc_sleep(600000)'));
      await waitFor("A's eight calls, two of them running", async () => {
        const rows = await calls(engine, a.name, 'rpc_sleep');
        const live = rows.filter((r) => r.status === 'queued' || r.status === 'running');
        return live.length === 8 && live.filter((r) => r.status === 'running').length >= 2 ? true : undefined;
      });
      // Not a race against A's calls: without a share per database, B's call would wait for one of
      // them to end (ten minutes), and fail here with IQ004 after thirty seconds.
      const v = await withClient(b.url, async (tb) => {
        await tb.query('set iasql.rpc_timeout_ms = 30000');
        return (await tb.query('select iasql_version() as v')).rows[0].v;
      });
      expect(v).toMatch(/^\d+\.\d+\.\d+/);
      const statuses = (await calls(engine, a.name, 'rpc_sleep')).map((r) => r.status).sort();
      expect(statuses).toEqual([...Array(6).fill('queued'), 'running', 'running']);
      await cancelAll();
      for (const p of pending) expect(await p).toMatchObject({ code: '57014', message: 'canceling statement due to user request' });
      expect((await calls(engine, a.name, 'rpc_sleep')).map((r) => r.status)).toEqual(Array(8).fill('cancelled'));
    } finally {
      // Callers that disconnect do not stop their calls: cancel them, or stopping the engine waits ten minutes.
      await cancelAll();
      await Promise.allSettled(pending);
      await Promise.all(sessions.map((s) => s.end()));
    }
  });
});

describe("the engine's work in a tenant's database, whatever the tenant does there", () => {
  test("a tenant holding the module lock's advisory key and every lock it may take on the engine's tables stalls no module operation nor a rollout", async () => {
    const engine = await startTestEngine({ modulePath: [FIXTURE_MODULES] });
    const a = await newDatabase(engine, 'squatter');
    const b = await newDatabase(engine, 'bystander');
    const squatter = await connect(a.url);
    const t = await connect(a.url);
    try {
      // Any session may take any advisory key; on the engine's tables the tenant may take ACCESS SHARE only.
      await squatter.query(`select pg_advisory_lock(hashtext('iasql_modules'))`);
      await squatter.query('begin');
      await squatter.query('lock table iasql_engine.iasql_module, iasql_engine.iasql_dependencies, iasql_engine.iasql_tables in access share mode');
      // Stalled, this call would end with IQ004.
      await t.query('set iasql.rpc_timeout_ms = 30000');
      expect((await t.query(`select created_table_name from iasql_install('fixture_rpc') order by 1`)).rows).toEqual([{ created_table_name: 'rpc_counter' }, { created_table_name: 'rpc_item' }]);
      expect((await install(engine, a.name, ['fixture_notes@0.1.0'])).status).toBe(200);
      expect((await install(engine, b.name, ['fixture_notes@0.1.0'])).status).toBe(200);
      // One database at a time, the squatter's first: stalled there, the others would never be upgraded.
      const started = await engine.api('POST', '/v1/rollouts', { strategy: 'one-at-a-time' });
      const rollout = await waitFor('the rollout to finish', async () => {
        const r = (await engine.api('GET', `/v1/rollouts/${started.body.id}`)).body;
        return r.status === 'running' ? undefined : r;
      }, 30_000);
      expect(rollout.status).toBe('succeeded');
      expect(rollout.databases.map((d: { name: string; status: string }) => [d.name, d.status])).toEqual([[b.name, 'upgraded'], [a.name, 'upgraded']].sort());
    } finally {
      await squatter.end();
      await t.end();
      await stopTestEngine(engine);
    }
  });
  test("a tenant holding the engine SQL's old advisory key and read locks on the engine's tables does not stall an engine start", async () => {
    const first = await startTestEngine({ modulePath: [FIXTURE_MODULES] });
    const a = await newDatabase(first, 'startblock');
    const squatter = await connect(a.url);
    let second: TestEngine | undefined;
    try {
      await squatter.query(`select pg_advisory_lock(hashtext('iasql_engine_sql'))`);
      await squatter.query('begin');
      await squatter.query('lock table iasql_engine.iasql_module, iasql_engine.iasql_rpc, iasql_engine.iasql_audit_log in access share mode');
      // Another engine on the same metadata database starts (brings every database's engine SQL up
      // to date at start), and serves the squatter's database.
      second = await startTestEngine({ modulePath: [FIXTURE_MODULES], metadataDatabase: first.config.metadataDatabase });
      expect((await second.api('GET', `/v1/databases/${a.name}/modules`)).status).toBe(200);
      expect(second.logs()).not.toContain('could not prepare this database');
    } finally {
      await squatter.end();
      if (second) await stopTestEngine(second);
      await stopTestEngine(first);
    }
  });

  test('a tenant session idle in a transaction that read a module table fails that upgrade with a lock timeout instead of stalling the rollout', async () => {
    const engine = await startTestEngine({ modulePath: [FIXTURE_MODULES] });
    const a = await newDatabase(engine, 'holder');
    const b = await newDatabase(engine, 'bystander');
    const holder = await connect(a.url);
    try {
      for (const db of [a, b]) expect((await install(engine, db.name, ['fixture_notes@0.1.0'])).status).toBe(200);
      // ACCESS SHARE on note until the session ends: 0.2.0 renames a column of note.
      await holder.query('begin');
      await holder.query('select count(*) from note');
      const started = await engine.api('POST', '/v1/rollouts', { strategy: 'all-at-once' });
      const rollout = await waitFor('the rollout to finish', async () => {
        const r = (await engine.api('GET', `/v1/rollouts/${started.body.id}`)).body;
        return r.status === 'running' ? undefined : r;
      }, 40_000);
      const byName = Object.fromEntries(rollout.databases.map((d: { name: string; status: string; error: string | null }) => [d.name, d]));
      expect(byName[b.name]).toMatchObject({ status: 'upgraded', error: null });
      expect(byName[a.name]).toMatchObject({ status: 'failed', error: expect.stringMatching(/^module fixture_notes@0\.2\.0: 0\.2\.0\/up\.sql line \d+ failed: canceling statement due to lock timeout/) });
      await holder.query('rollback');
      expect((await engine.api('POST', `/v1/databases/${a.name}/upgrade`)).status).toBe(200);
    } finally {
      await holder.end();
      await stopTestEngine(engine);
    }
  });

  test("its own sequences (a serial column of its own table) do not stop the engine installing or upgrading modules, nor become the engine's", async () => {
    const engine = await startTestEngine({ modulePath: [FIXTURE_MODULES] });
    const db = await newDatabase(engine, 'ownseq');
    const t = await connect(db.url);
    try {
      await t.query('create table public.mine (id serial primary key, v text)');
      await t.query('create sequence public.my_counter');
      expect((await t.query(`select * from iasql_install('fixture_notes@0.1.0')`)).rows).toEqual([{ module_name: 'fixture_notes', created_table_name: 'note', record_count: 0 }]);
      expect((await t.query('select * from iasql_upgrade()')).rows).toEqual([{ module_name: 'fixture_notes', from_version: '0.1.0', to_version: '0.3.0' }]);
      expect((await install(engine, db.name, ['fixture_rpc'])).status).toBe(200);
      // The module's sequences are the tenant's to use; its own stay its own.
      await t.query(`insert into note (content) values ('x')`);
      await t.query(`insert into mine (v) values ('y')`);
      const { engine: engineRole } = await rolesOf(engine.config.metadataDatabase, db.name);
      const privileges = await withClient(serverUrl(db.name), async (a) =>
        (await a.query(`select has_sequence_privilege($1, 'public.mine_id_seq', 'usage') as mine, has_sequence_privilege($1, 'public.my_counter', 'usage') as counter`, [engineRole])).rows,
      );
      expect(privileges).toEqual([{ mine: false, counter: false }]);
    } finally {
      await t.end();
      await stopTestEngine(engine);
    }
  });
});
