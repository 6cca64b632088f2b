import { Client, Pool } from 'pg';
import { connectWithin } from '../src/postgres/connections';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, withClient } from './support/engine';
import { FIXTURE_MODULES, install, newDatabase } from './support/modules';
import { connect, sqlError } from './support/sql';
import { waitFor } from './support/wait';

/**
 * A hostile tenant against the engine's dispatch path: arguments built to break what the worker
 * does after the handler (history, outcome, releasing the connection), and calls meant to hold
 * the engine's job slots so that another tenant's calls wait.
 */

const calls = (engine: TestEngine, database: string, method: string) =>
  withClient(serverUrl(engine.config.metadataDatabase), async (m) =>
    (await m.query(`select id, status, error from rpc_call where database = $1 and method = $2 order by id`, [database, method])).rows,
  );

/** A jsonb value nested `depth` arrays deep inside {"d": ...}, built by Postgres. */
const deep = (depth: number) => `('{"d":' || repeat('[', ${depth}) || repeat(']', ${depth}) || '}')::jsonb`;

describe('arguments nested deeper than the engine keeps', () => {
  let engine: TestEngine;
  let db: { name: string; url: string };
  let t: Client;
  beforeAll(async () => {
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 4 });
    db = await newDatabase(engine, 'deep');
    await install(engine, db.name, ['fixture_rpc']);
    t = await connect(db.url);
  });
  afterAll(async () => {
    await t.end();
    await stopTestEngine(engine);
  });

  test('are refused with IQ002 naming the limit, leave a history row, and wedge nothing (30 calls, then ordinary ones)', async () => {
    for (let i = 0; i < 30; i++) {
      expect(await sqlError(t, `select rpc_describe(${deep(6000)})`)).toEqual({
        code: 'IQ002',
        message: 'rpc fixture_rpc.rpc_describe: the arguments are nested 6002 levels deep, more than the limit of 100',
        detail: undefined,
        hint: 'pass flatter arguments (a JSON value nested at most 100 levels deep)',
      });
    }
    const rows = await calls(engine, db.name, 'rpc_describe');
    expect(rows).toHaveLength(30);
    expect(rows.every((r) => r.status === 'failed' && r.error.sqlstate === 'IQ002')).toBe(true);
    // Every call left its history row (with what could be kept of its arguments).
    const history = (await t.query(`select params, err from iasql_rpc where method_name = 'rpc_describe' order by start_date`)).rows;
    expect(history).toHaveLength(30);
    expect(history[0]).toEqual({
      params: { omitted: 'arguments nested more than 100 levels deep are not kept in the history' },
      err: 'rpc fixture_rpc.rpc_describe: the arguments are nested 6002 levels deep, more than the limit of 100',
    });
    // The engine's connections to the database were all given back: more calls than its pool holds still run.
    const results: number[] = [];
    for (let i = 0; i < 25; i++) results.push((await t.query(`select rpc_add($1, 1) as v`, [i])).rows[0].v);
    expect(results).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  test('at the limit they are accepted and kept whole in the history', async () => {
    // {"payload": {"d": [[...]]}}: 98 arrays inside two objects is 100 levels.
    const { rows } = await t.query(`select rpc_describe(${deep(98)}) -> 'payload' as v`);
    expect(JSON.stringify(rows[0].v)).toBe(`{"d":${'['.repeat(98)}${']'.repeat(98)}}`);
    const h = (await t.query(`select params from iasql_rpc where method_name = 'rpc_describe' order by start_date desc limit 1`)).rows[0];
    expect(JSON.stringify(h.params.payload)).toBe(`{"d":${'['.repeat(98)}${']'.repeat(98)}}`);
    expect(await sqlError(t, `select rpc_describe(${deep(99)})`)).toMatchObject({
      code: 'IQ002',
      message: 'rpc fixture_rpc.rpc_describe: the arguments are nested 101 levels deep, more than the limit of 100',
    });
  });
});

describe('calls waiting for their database\'s share', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    // Four calls at once in this process on each path, two of them at most for one database.
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 4, rpcConcurrencyPerDatabase: 2 });
  });
  afterAll(() => stopTestEngine(engine));

  test("hold no job slot: another tenant's call too large to announce (the job path) runs while one tenant's calls wait, and theirs run in turn", async () => {
    const a = await newDatabase(engine, 'hog');
    const b = await newDatabase(engine, 'big');
    await install(engine, a.name, ['fixture_rpc']);
    await install(engine, b.name, ['fixture_rpc']);
    const long = await Promise.all([1, 2].map(() => connect(a.url)));
    const short = await Promise.all(Array.from({ length: 6 }, () => connect(a.url)));
    const longPids: number[] = [];
    const cancelLong = () => withClient(serverUrl(a.name), (adm) => adm.query('select pg_cancel_backend(pid) from unnest($1::int[]) pid', [longPids]));
    let pendingLong: Array<Promise<unknown>> = [];
    let pendingShort: Array<Promise<unknown>> = [];
    try {
      for (const s of [...long, ...short]) await s.query('set iasql.rpc_timeout_ms = 600000');
      for (const s of long) longPids.push((await s.query('select pg_backend_pid() as pid')).rows[0].pid);
      // Two calls fill A's share of this engine; six more wait for it, past the 250 ms after which each gets a graphile job.
      pendingLong = long.map((s) => sqlError(s, 'select rpc_sleep(600000)'));
      await waitFor("A's two long calls running", async () => ((await calls(engine, a.name, 'rpc_sleep')).filter((r) => r.status === 'running').length === 2 ? true : undefined));
      pendingShort = short.map((s) => s.query(`select rpc_sleep(1) as v`).then((r) => r.rows[0].v, (err: Error) => err.message));
      await waitFor("A's six short calls queued", async () => ((await calls(engine, a.name, 'rpc_sleep')).filter((r) => r.status === 'queued').length === 6 ? true : undefined));
      await new Promise((r) => setTimeout(r, 1000));
      // 9 KB of arguments: over NOTIFY's payload limit, so the call goes straight to a graphile job.
      // Not a race: before, A's waiting jobs kept all four job slots, and this call timed out here
      // after 20 s waiting for one of A's ten-minute calls to end.
      const n = await withClient(b.url, async (tb) => {
        await tb.query('set iasql.rpc_timeout_ms = 20000');
        return (await tb.query('select length(rpc_echo($1)) as n', ['x'.repeat(9000)])).rows[0].n;
      });
      expect(n).toBe(9000);
      expect((await calls(engine, a.name, 'rpc_sleep')).map((r) => r.status).sort()).toEqual([...Array(6).fill('queued'), 'running', 'running']);
      // A's waiting calls were kept, not dropped with their jobs: once the long ones end, they all run.
      await cancelLong();
      expect(await Promise.all(pendingShort)).toEqual(Array(6).fill('slept'));
      for (const p of pendingLong) expect(await p).toMatchObject({ code: '57014' });
    } finally {
      await cancelLong();
      await Promise.allSettled([...pendingLong, ...pendingShort]);
      await Promise.all([...long, ...short].map((s) => s.end()));
    }
  });
});

describe('connectWithin', () => {
  test('gives up on a pool whose clients are all held, saying so, and a client that comes free later goes back to the pool', async () => {
    const pool = new Pool({ connectionString: serverUrl(), max: 1 });
    try {
      const held = await pool.connect();
      await expect(connectWithin(pool, 200, 'postgres')).rejects.toThrow("no connection to database postgres came free within 200 ms (all 1 of the engine's are in use)");
      held.release();
      // The late client was handed back, not leaked: the pool's one client serves the next caller.
      const next = await connectWithin(pool, 5000, 'postgres');
      expect((await next.query('select 1 as v')).rows).toEqual([{ v: 1 }]);
      next.release();
      expect(pool.totalCount).toBe(1);
    } finally {
      await pool.end();
    }
  });
});
