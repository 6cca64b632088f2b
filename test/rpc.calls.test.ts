import { Client } from 'pg';
import { serverUrl, stopTestEngine, TestEngine, withClient } from './support/engine';
import { install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';

let engine: TestEngine;
let db: { name: string; url: string };
let c: Client;

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'rpc');
  expect((await install(engine, db.name, ['fixture_rpc'])).status).toBe(200);
  c = await connect(db.url);
});
afterAll(async () => {
  await c?.end();
  await stopTestEngine(engine);
});

const one = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0];

describe('calls return the declared shape', () => {
  test('scalars, with defaults', async () => {
    expect(await one(`select rpc_echo('ab') as v`)).toEqual({ v: 'ab' });
    expect(await one(`select rpc_echo('ab', 3) as v`)).toEqual({ v: 'ababab' });
    expect(await one(`select rpc_echo(value => 'x', times => 2) as v`)).toEqual({ v: 'xx' });
    expect(await one('select rpc_add(40, 2) as v')).toEqual({ v: 42 });
    expect(await one('select rpc_add($1, $2) as v', [-1, 1])).toEqual({ v: 0 });
  });

  test('jsonb, text[] and booleans in and out; the handler knows the calling database', async () => {
    expect(await one(`select rpc_describe('{"w": 64, "nested": [1, {"a": null}]}', array['x', 'y'], true) as v`)).toEqual({
      v: { payload: { w: 64, nested: [1, { a: null }] }, tags: ['x', 'y'], flag: true, database: db.name },
    });
    expect(await one(`select rpc_describe('"just a string"') as v`)).toEqual({ v: { payload: 'just a string', tags: null, flag: false, database: db.name } });
    expect(await one('select rpc_tags(3) as v')).toEqual({ v: ['t1', 't2', 't3'] });
  });

  test('a call too large for the enqueue notification still runs, by its graphile job', async () => {
    const big = { blob: 'x'.repeat(20_000) };
    const { v } = await one('select rpc_describe($1::jsonb) as v', [JSON.stringify(big)]);
    expect(v.payload).toEqual(big);
  });

  test('a table result, usable in SQL like any set-returning function', async () => {
    expect((await c.query('select * from rpc_items(3)')).rows).toEqual([
      { idx: 1, label: 'item 1', even: false },
      { idx: 2, label: 'item 2', even: true },
      { idx: 3, label: 'item 3', even: false },
    ]);
    expect(await one('select count(*)::int as n, sum(idx)::int as s from rpc_items(100) where even')).toEqual({ n: 50, s: 2550 });
    expect((await c.query('select * from rpc_items(0)')).rows).toEqual([]);
  });

  test.each(['read committed', 'repeatable read', 'serializable'])('works inside a %s transaction', async (level) => {
    await c.query(`begin isolation level ${level}`);
    try {
      expect(await one('select rpc_add(1, 2) as v')).toEqual({ v: 3 });
      expect(await one('select rpc_add(3, 4) as v')).toEqual({ v: 7 });
    } finally {
      await c.query('commit');
    }
  });

  test('a call is autonomous: rolling back the caller does not undo it', async () => {
    await c.query('begin');
    expect(await one(`select rpc_count('rollback-proof') as v`)).toEqual({ v: 1 });
    await c.query('rollback');
    expect(await one(`select count(*)::int as n from rpc_counter where tag = 'rollback-proof'`)).toEqual({ n: 1 });
  });
});

describe('handlers may return what Postgres gives them', () => {
  test("bigint and numeric as node-pg returns them (decimal strings), kept exact; count(*) from ctx.query", async () => {
    await c.query(`insert into rpc_counter (tag) values ('big'), ('big'), ('big')`);
    expect(await one(`select rpc_count_rows('big') = 3 as v`)).toEqual({ v: true });
    await c.query(`delete from rpc_counter where tag = 'big'`); // later tests count rpc_counter
    expect(await one(`select big = 9223372036854775807 as v from rpc_cast('9223372036854775807', 'bigint')`)).toEqual({ v: true });
    expect(await one(`select big = -9223372036854775808 as v from rpc_cast('-9223372036854775808', 'bigint')`)).toEqual({ v: true });
    expect(await one(`select num = 12345678901234567890.123456789 as v from rpc_cast('12345678901234567890.123456789', 'numeric')`)).toEqual({ v: true });
    expect(await one(`select num::text as v from rpc_cast('NaN', 'numeric')`)).toEqual({ v: 'NaN' });
  });

  test('integer takes -2^31 .. 2^31-1 and refuses what is outside', async () => {
    expect(await one(`select rpc_integer(2147483647) = 2147483647 and rpc_integer(-2147483648) = -2147483648 as v`)).toEqual({ v: true });
    for (const outside of ['2147483648', '-2147483649']) {
      expect(await sqlError(c, `select rpc_integer(${outside})`)).toMatchObject({
        code: 'IQ001',
        message: `rpc fixture_rpc.rpc_integer: the handler returned ${outside}, not an integer`,
      });
    }
  });
});

describe('queries on one connection never overlap', () => {
  // test/support/no-overlapping-queries.ts fails any test during which a pg client got a query while running another.
  test("a handler's ctx.query calls made at once run one after another, each with its own result", async () => {
    expect(await one('select rpc_parallel(5) as v')).toEqual({ v: [0, 1, 2, 3, 4] });
  });
});

describe('a JSON null result is SQL NULL', () => {
  test.each(['rpc_lookup', 'rpc_lookup_json'])('%s: IS NULL holds in SQL for a missing key, not for a present one', async (fn) => {
    expect(await one(`select ${fn}('absent') is null as missing, ${fn}('present') is null as present, ${fn}('present')::text as v`)).toEqual({
      missing: true,
      present: false,
      v: '{"found": "present"}',
    });
  });
});

describe('errors reach psql with a SQLSTATE, a message, a detail and a hint', () => {
  test('an RpcError from the handler keeps its detail and hint', async () => {
    expect(await sqlError(c, `select rpc_fail('rpc')`)).toEqual({ code: 'IQ001', message: 'the widget is jammed', detail: 'widget 42 is jammed', hint: 'unjam it' });
  });

  test('any other handler error is IQ001 naming the method', async () => {
    expect(await sqlError(c, `select rpc_fail('plain')`)).toEqual({ code: 'IQ001', message: 'rpc fixture_rpc.rpc_fail failed: boom', detail: undefined, hint: undefined });
  });

  test("a cloud error carries the service's error code in the detail", async () => {
    expect(await sqlError(c, `select rpc_fail('cloud')`)).toEqual({
      code: 'IQ001',
      message: 'rpc fixture_rpc.rpc_fail failed: Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope',
      detail: 'cloud error code: ResourceNotFoundException',
      hint: undefined,
    });
  });

  test('a result of the wrong type is refused', async () => {
    expect(await sqlError(c, 'select rpc_bad_result()')).toMatchObject({
      code: 'IQ001',
      message: 'rpc fixture_rpc.rpc_bad_result: the handler returned "not a number", not an integer',
    });
  });

  test('a NULL for a required argument is an argument error, raised before the handler runs', async () => {
    expect(await sqlError(c, 'select rpc_count(null)')).toEqual({
      code: 'IQ002',
      message: "rpc fixture_rpc.rpc_count: argument 'tag' is required (got NULL)",
      detail: undefined,
      hint: 'see SELECT * FROM iasql_help()',
    });
    expect(await one(`select count(*)::int as n from rpc_counter`)).toEqual({ n: 1 }); // only the earlier call
  });

  test('Postgres itself checks argument types and arity', async () => {
    expect(await sqlError(c, `select rpc_add('x', 1)`)).toMatchObject({ code: '22P02' });
    expect(await sqlError(c, 'select rpc_add(1)')).toMatchObject({ code: '42883' });
  });

  test('an unknown method or a module not installed is IQ003', async () => {
    // Only the engine can reach the entry point directly (it is what bindings call).
    await withClient(serverUrl(db.name), async (admin) => {
      expect(await sqlError(admin, `select iasql_internal.rpc_call('fixture_rpc', 'rpc_nope', '{}', 5000)`)).toEqual({
        code: 'IQ003',
        message: "rpc fixture_rpc.rpc_nope: module fixture_rpc@0.1.0 has no rpc method 'rpc_nope'",
        detail: undefined,
        hint: 'SELECT * FROM iasql_help() lists the functions of the installed modules',
      });
      expect(await sqlError(admin, `select iasql_internal.rpc_call('fixture_notes', 'note_count', '{}', 5000)`)).toEqual({
        code: 'IQ003',
        message: `rpc fixture_notes.note_count: module 'fixture_notes' is not installed in database '${db.name}'`,
        detail: undefined,
        hint: "install it first: SELECT * FROM iasql_install('fixture_notes')",
      });
    });
  });
});

describe('generated bindings', () => {
  test('each method is a SECURITY DEFINER function with a fixed search_path and its docs as comment', async () => {
    const { rows } = await c.query(`
      select p.proname, pg_get_function_arguments(p.oid) as args, pg_get_function_result(p.oid) as result,
             p.prosecdef, p.proconfig, obj_description(p.oid, 'pg_proc') as comment
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname = 'public' and p.proname in ('rpc_echo', 'rpc_items') order by 1`);
    expect(rows).toEqual([
      {
        proname: 'rpc_echo',
        args: 'value text, times integer DEFAULT 1',
        result: 'text',
        prosecdef: true,
        proconfig: ['search_path=pg_catalog, pg_temp'],
        comment: "Repeats a text\nArguments:\n  value: the text to repeat\n  times: how many times\nExample: SELECT rpc_echo('hi', 2);",
      },
      {
        proname: 'rpc_items',
        args: 'n integer',
        result: 'TABLE(idx integer, label text, even boolean)',
        prosecdef: true,
        proconfig: ['search_path=pg_catalog, pg_temp'],
        comment: 'Returns n rows',
      },
    ]);
  });

  test('iasql_help lists them with signature, description and sample usage', async () => {
    const { rows } = await c.query(`select * from iasql_help() where name = 'rpc_echo'`);
    expect(rows).toEqual([
      {
        name: 'rpc_echo',
        signature: 'rpc_echo(value text, times integer DEFAULT 1) RETURNS text',
        description: 'Repeats a text\nArguments:\n  value: the text to repeat\n  times: how many times',
        sample_usage: "SELECT rpc_echo('hi', 2);",
      },
    ]);
  });

  test('uninstall drops them; install brings them back', async () => {
    const other = await newDatabase(engine, 'rpcb');
    await install(engine, other.name, ['fixture_rpc']);
    const fns = () =>
      withClient(other.url, async (oc) => (await oc.query(`select count(*)::int as n from pg_proc where proname like 'rpc\\_%' and pronamespace = 'public'::regnamespace`)).rows[0].n);
    expect(await fns()).toBe(16);
    await engine.api('POST', `/v1/databases/${other.name}/modules`, { uninstall: ['fixture_rpc'] });
    expect(await fns()).toBe(0);
    await install(engine, other.name, ['fixture_rpc']);
    expect(await fns()).toBe(16);
    expect(await withClient(other.url, async (oc) => (await oc.query(`select rpc_add(2, 2) as v`)).rows[0].v)).toBe(4);
  });
});

describe("a dependency's exports", () => {
  test('reach the handlers of modules that depend on it, at the installed version', async () => {
    const other = await newDatabase(engine, 'deps');
    await install(engine, other.name, ['fixture_tagger']);
    await withClient(other.url, async (oc) => {
      await oc.query(`insert into note (content) values ('a'), ('b'), ('c')`);
      expect((await oc.query('select tagger_note_count() as n')).rows).toEqual([{ n: 3 }]);
    });
  });
});

describe('history', () => {
  test('every call leaves a row in iasql_rpc; iasql_get_errors lists the failed ones', async () => {
    await one(`select rpc_echo('history', 2) as v`);
    await sqlError(c, `select rpc_fail('plain')`);
    const { rows } = await c.query(`select * from iasql_rpc where method_name in ('rpc_echo', 'rpc_fail') order by start_date desc, opid::bigint desc limit 2`);
    expect(rows[1]).toEqual({
      opid: expect.stringMatching(/^\d+$/),
      module_name: 'fixture_rpc',
      method_name: 'rpc_echo',
      params: { value: 'history', times: 2 },
      caller: db.url.split('//')[1].split(':')[0],
      start_date: expect.any(Date),
      end_date: expect.any(Date),
      output: 'historyhistory',
      err: null,
    });
    expect(rows[0]).toMatchObject({ method_name: 'rpc_fail', output: null, err: 'rpc fixture_rpc.rpc_fail failed: boom' });
    expect((await c.query(`select method_name, err from iasql_get_errors() limit 1`)).rows).toEqual([{ method_name: 'rpc_fail', err: 'rpc fixture_rpc.rpc_fail failed: boom' }]);
    // The tenant may read its history, not change it.
    expect(await sqlError(c, 'delete from iasql_rpc')).toMatchObject({ code: '42501' });
  });

  test('the history row is there as soon as the call returns, every time', async () => {
    // A fast call can finish between two of the caller's status checks; the caller must still
    // return only after the worker has written the call's row.
    const missing: number[] = [];
    for (let i = 0; i < 150; i++) {
      await one(`select rpc_echo($1) as v`, [`seq-${i}`]);
      const { n } = await one(`select count(*)::int as n from iasql_rpc where method_name = 'rpc_echo' and params->>'value' = $1`, [`seq-${i}`]);
      if (n !== 1) missing.push(i);
    }
    expect(missing).toEqual([]);
  });

  test('pruning removes rows past the age limit and beyond the count limit', async () => {
    await withClient(serverUrl(db.name), async (admin) => {
      await admin.query(`insert into iasql_rpc (opid, module_name, method_name, params, caller, start_date)
                         select 'old' || i, 'm', 'f', '{}', 'x', now() - interval '90 days' from generate_series(1, 5) i`);
      const before = (await admin.query('select count(*)::int as n from iasql_rpc')).rows[0].n;
      const removed = await engine.worker!.prune();
      expect(removed).toBeGreaterThanOrEqual(5);
      const after = await admin.query(`select count(*)::int as n, count(*) filter (where opid like 'old%')::int as old from iasql_rpc`);
      expect(after.rows[0]).toEqual({ n: before - 5, old: 0 });
    });
  });
});

describe('the iasql_* functions, over rpc', () => {
  test('install, list, upgrade, uninstall with IaSQL shapes', async () => {
    const other = await newDatabase(engine, 'iasqlfn');
    await withClient(other.url, async (oc) => {
      expect((await oc.query(`select * from iasql_install('fixture_notes@0.2.0')`)).rows).toEqual([
        { module_name: 'fixture_notes', created_table_name: 'note', record_count: 0 },
      ]);
      expect((await oc.query(`select * from iasql_modules_installed() where module_name = 'fixture_notes'`)).rows).toEqual([
        { module_name: 'fixture_notes', module_version: '0.2.0', dependencies: [] },
      ]);
      await oc.query(`insert into note (content) values ('kept')`);
      expect((await oc.query('select * from iasql_upgrade()')).rows).toEqual([{ module_name: 'fixture_notes', from_version: '0.2.0', to_version: '0.3.0' }]);
      expect((await oc.query('select content from note')).rows).toEqual([{ content: 'kept' }]);
      expect((await oc.query(`select * from iasql_modules_list() where module_name like 'fixture_n%'`)).rows).toEqual([
        { module_name: 'fixture_notes', module_version: '0.3.0', dependencies: [] },
      ]);
      expect((await oc.query('select iasql_version() as v')).rows).toEqual([{ v: '0.1.0' }]);
      expect((await oc.query(`select * from iasql_uninstall('fixture_notes')`)).rows).toEqual([
        { module_name: 'fixture_notes', dropped_table_name: 'note', record_count: 1 },
        { module_name: 'fixture_notes', dropped_table_name: 'note_tag', record_count: 0 },
      ]);
    });
  });

  test('bad input is IQ002 with the message a user can act on; nothing changes', async () => {
    const other = await newDatabase(engine, 'iasqlbad');
    await withClient(other.url, async (oc) => {
      expect(await sqlError(oc, `select * from iasql_install('nope')`)).toEqual({
        code: 'IQ002',
        message: "unknown module 'nope'; available: aws_account, aws_dynamo, aws_iam, aws_lambda, fixture_badhook, fixture_broken, fixture_fakecloud, fixture_notes, fixture_rpc, fixture_tagger, iasql_commit, iasql_functions, iasql_platform",
        detail: undefined,
        hint: undefined,
      });
      await oc.query(`select * from iasql_install('fixture_tagger')`);
      expect((await sqlError(oc, `select * from iasql_uninstall('fixture_notes')`)).message).toBe(
        "cannot uninstall 'fixture_notes': 'fixture_tagger' depends on it; uninstall it first or together",
      );
      expect(await sqlError(oc, `select * from iasql_install('fixture_broken')`)).toMatchObject({
        code: 'IQ001',
        message: expect.stringMatching(/^module fixture_broken@0\.1\.0: 0\.1\.0\/up\.sql line 5 failed: relation "missing" does not exist/),
      });
      expect((await oc.query(`select module_name from iasql_modules_installed() order by 1`)).rows.map((r) => r.module_name)).toEqual([
        'fixture_notes',
        'fixture_tagger',
        'iasql_commit',
        'iasql_functions',
        'iasql_platform',
      ]);
    });
  });
});

describe('who a change set was opened by', () => {
  test('the tenant that called iasql_begin(), in REST and in the already-open error', async () => {
    const tenant = new URL(db.url).username;
    await c.query('select * from iasql_begin()');
    try {
      const { body } = await engine.api('GET', `/v1/databases/${db.name}/commits`);
      expect(body.commits[0]).toMatchObject({ status: 'open', openedBy: tenant });
      const again = await sqlError(c, 'select * from iasql_begin()');
      expect(again.message).toMatch(new RegExp(`^change set \\d+ is already open \\(opened by ${tenant} at `));
    } finally {
      await c.query('select * from iasql_rollback()');
    }
  });
});
