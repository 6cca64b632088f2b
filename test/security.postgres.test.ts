import { Client, escapeIdentifier as ident } from 'pg';
import { fakeCloud } from './fixtures/modules/fakecloud';
import { serverUrl, stopTestEngine, TestEngine, tryConnect, withClient, withDatabase } from './support/engine';
import { adminClient, expectNoForeignRuns, foreignRuns, logRun, logRunAs, prepareEvilLog, roleOf, rolesOf } from './support/hostile';
import { install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';

/**
 * A tenant attacks the privilege model of its own database with its own connection string, as it
 * would with psql: every object it makes logs the role it runs as into public.evil_log, and after
 * each attack nothing of it has run as the engine's role (or anyone else), the tenant is still a
 * plain role, and each attempt the model forbids was refused with a clear error.
 */

let engine: TestEngine;
beforeAll(async () => {
  engine = await startModuleEngine();
});
afterAll(() => stopTestEngine(engine));

/** Runs each statement and returns what psql would show for it: SQLSTATE and message. */
async function refusals(c: Client, statements: string[]) {
  const out: Array<{ sql: string; code: string; message: string }> = [];
  for (const sql of statements) {
    const e = await sqlError(c, sql);
    out.push({ sql, code: e.code, message: e.message });
  }
  return out;
}

describe('a hostile tenant in its own database', () => {
  let db: { name: string; url: string };
  let tenant: string;
  let roles: { engine: string; queue: string };
  let t: Client;
  beforeAll(async () => {
    db = await newDatabase(engine, 'hostile');
    tenant = roleOf(db.url);
    roles = await rolesOf(engine.config.metadataDatabase, db.name);
    for (const m of ['fixture_fakecloud', 'fixture_rpc', 'aws_account', 'aws_dynamo']) expect((await install(engine, db.name, [m])).status).toBe(200);
    t = await connect(db.url);
    await prepareEvilLog(t);
  });
  afterAll(() => t.end());

  const noForeignRuns = () => expectNoForeignRuns(db.name, tenant);

  test('cannot create a schema that a search path would find first: postgres, the engine role, the queue role, its own', async () => {
    for (const schema of ['postgres', roles.engine, roles.queue, tenant, 'iasql_engine2']) {
      expect(await sqlError(t, `create schema ${ident(schema)}`)).toMatchObject({ code: '42501', message: `permission denied for database ${db.name}` });
    }
    // Nor change the search path anyone else starts with.
    expect(await refusals(t, [
      `alter database ${ident(db.name)} set search_path = public, pg_catalog`,
      `alter role ${ident(roles.engine)} set search_path = public, pg_catalog`,
      `alter role ${ident(roles.engine)} in database ${ident(db.name)} set search_path = public, pg_catalog`,
    ])).toEqual([
      expect.objectContaining({ code: '42501', message: `must be owner of database ${db.name}` }),
      expect.objectContaining({ code: '42501', message: `permission denied to alter role` }),
      expect.objectContaining({ code: '42501', message: `permission denied to alter role` }),
    ]);
    await noForeignRuns();
  });

  test('views named after the engine tables in public: the engine and the iasql_* functions never read them', async () => {
    for (const table of ['iasql_module', 'iasql_dependencies', 'iasql_tables']) {
      await t.query(`create view public.${table} as select x.*, public.evil('view public.${table}') as evil from iasql_engine.${table} x`);
    }
    // The tenant's own session finds them first (its search path is "$user", public, iasql_engine).
    expect((await t.query('select count(*)::int as n from iasql_module where evil = 1')).rows[0].n).toBeGreaterThan(0);
    expect((await t.query('select iasql_version() as v')).rows[0].v).toMatch(/^\d+\.\d+\.\d+/);
    expect((await t.query(`select * from iasql_install('fixture_notes@0.1.0')`)).rows).toEqual([{ module_name: 'fixture_notes', created_table_name: 'note', record_count: 0 }]);
    expect((await t.query(`select * from iasql_upgrade()`)).rows).toEqual([{ module_name: 'fixture_notes', from_version: '0.1.0', to_version: '0.3.0' }]);
    const installed = (await t.query('select * from iasql_modules_installed()')).rows;
    expect(installed).toContainEqual({ module_name: 'fixture_notes', module_version: '0.3.0', dependencies: [] });
    expect(Object.keys(installed[0])).toEqual(['module_name', 'module_version', 'dependencies']);
    expect((await t.query('select name from iasql_help()')).rows).toContainEqual({ name: 'note_count' });
    await t.query('select * from iasql_get_errors()');
    await t.query('select * from iasql_modules_list()');
    await t.query('select * from iasql_begin()');
    await t.query(`insert into fake_node (name) values ('through the views')`);
    expect((await t.query('select action, table_name from iasql_preview()')).rows).toEqual([{ action: 'create', table_name: 'fake_node' }]);
    expect((await t.query(`select action from iasql_commit('views in public')`)).rows).toEqual([{ action: 'create' }]);
    expect((await t.query(`select * from iasql_uninstall('fixture_notes')`)).rows.map((r) => r.module_name)).toEqual(['fixture_notes', 'fixture_notes']);
    // And through the REST API.
    expect((await engine.api('GET', `/v1/databases/${db.name}/modules`)).status).toBe(200);
    expect((await engine.api('POST', `/v1/databases/${db.name}/upgrade`)).status).toBe(200);
    await noForeignRuns();
  });

  test('overloads of what triggers and the engine call, for module row types and for text and jsonb, never run as the engine', async () => {
    const rowTypes = ['fake_node', 'aws_regions', 'aws_credentials', 'rpc_item', 'rpc_counter', 'dynamo_table'];
    for (const ty of rowTypes) {
      await t.query(`create function public.to_jsonb(r public.${ty}) returns jsonb language plpgsql as $$
        begin ${logRunAs(`public.to_jsonb(${ty})`)} return pg_catalog.to_jsonb(r); end $$`);
      await t.query(`create function public.jsonb_populate_record(base public.${ty}, j jsonb) returns public.${ty} language plpgsql as $$
        begin ${logRunAs(`public.jsonb_populate_record(${ty}, jsonb)`)} return pg_catalog.jsonb_populate_record(base, j); end $$`);
      await t.query(`create function public.evil_eq(a public.${ty}, b public.${ty}) returns boolean language plpgsql as $$
        begin ${logRunAs(`public.=(${ty}, ${ty})`)} return a operator(pg_catalog.=) b; end $$`);
      await t.query(`create function public.evil_ne(a public.${ty}, b public.${ty}) returns boolean language plpgsql as $$
        begin ${logRunAs(`public.<>(${ty}, ${ty})`)} return a operator(pg_catalog.<>) b; end $$`);
      await t.query(`create operator public.= (leftarg = public.${ty}, rightarg = public.${ty}, function = public.evil_eq)`);
      await t.query(`create operator public.<> (leftarg = public.${ty}, rightarg = public.${ty}, function = public.evil_ne)`);
    }
    // Builtin types: the same signature as pg_catalog's (found first unless a search path puts
    // public ahead of it), or a closer match than pg_catalog's polymorphic or variadic one.
    const overload = (sig: string, returns: string, body: string) =>
      t.query(`create function public.${sig} returns ${returns} language plpgsql as $$ begin ${logRunAs(`public.${sig}`)} return ${body}; end $$`);
    await overload('jsonb_set(j jsonb, p text[], v jsonb)', 'jsonb', 'pg_catalog.jsonb_set(j, p, v)');
    await overload('jsonb_set(j jsonb, p text[], v jsonb, c boolean)', 'jsonb', 'pg_catalog.jsonb_set(j, p, v, c)');
    await overload('quote_literal(s text)', 'text', 'pg_catalog.quote_literal(s)');
    await overload('json_typeof(j json)', 'text', 'pg_catalog.json_typeof(j)');
    await overload('jsonb_typeof(j jsonb)', 'text', 'pg_catalog.jsonb_typeof(j)');
    await overload('current_setting(n text, m boolean)', 'text', 'pg_catalog.current_setting(n, m)');
    await overload('jsonb_build_object(a text, b jsonb, c text, d jsonb)', 'jsonb', 'pg_catalog.jsonb_build_object(a, b, c, d)');
    await overload('format(f text, a text)', 'text', 'pg_catalog.format(f, a)');
    await overload('octet_length(s text)', 'integer', 'pg_catalog.octet_length(s)');
    for (const [ty, name] of [['text', 'text'], ['jsonb', 'jsonb'], ['integer', 'int']] as const) {
      await t.query(`create function public.evil_eq_${name}(a ${ty}, b ${ty}) returns boolean language plpgsql as $$
        begin ${logRunAs(`public.=(${ty}, ${ty})`)} return a operator(pg_catalog.=) b; end $$`);
      await t.query(`create function public.evil_ne_${name}(a ${ty}, b ${ty}) returns boolean language plpgsql as $$
        begin ${logRunAs(`public.<>(${ty}, ${ty})`)} return a operator(pg_catalog.<>) b; end $$`);
      await t.query(`create operator public.= (leftarg = ${ty}, rightarg = ${ty}, function = public.evil_eq_${name})`);
      await t.query(`create operator public.<> (leftarg = ${ty}, rightarg = ${ty}, function = public.evil_ne_${name})`);
    }
    // The tenant writes module tables: the audit trigger (SECURITY DEFINER) and the module's own
    // triggers run in the tenant's session.
    await t.query('select * from iasql_begin()');
    await t.query(`insert into fake_node (name, size) values ('overloaded', 1)`);
    await t.query(`update fake_node set size = 2 where name = 'overloaded'`);
    await t.query(`update aws_regions set is_enabled = false where region = 'eu-west-3'`);
    await t.query(`select default_aws_region('eu-west-2')`);
    await t.query(`insert into aws_credentials (access_key_id, secret_access_key) values ('AKIAEVIL', 'a secret')`);
    await t.query(`insert into rpc_item (id, n) values (7, 0)`);
    // dynamo_table's write-time check (quote_literal, json_typeof) runs on the tenant's insert and
    // on the engine's write-back of what DynamoDB generated.
    await t.query(`insert into dynamo_table (table_name, primary_key) values ('overloaded', '{"id": "S"}')`);
    // The engine writes them: rpc handlers, commit's write-back of cloud ids, rollback, sync.
    expect((await t.query('select rpc_touch(7) as v')).rows).toEqual([{ v: 1 }]);
    expect((await t.query(`select rpc_count('overloads') as v`)).rows).toEqual([{ v: 1 }]);
    expect((await t.query(`select action, table_name from iasql_commit('with overloads') order by table_name`)).rows).toEqual([
      { action: 'create', table_name: 'dynamo_table' },
      { action: 'create', table_name: 'fake_node' },
    ]);
    expect((await t.query(`select cloud_id is not null as ok from fake_node where name = 'overloaded'`)).rows).toEqual([{ ok: true }]);
    expect((await t.query(`select table_id is not null as ok from dynamo_table where table_name = 'overloaded'`)).rows).toEqual([{ ok: true }]);
    await t.query('select * from iasql_begin()');
    await t.query(`update fake_node set size = 9 where name = 'overloaded'`);
    await t.query('select * from iasql_rollback()');
    expect((await t.query(`select size from fake_node where name = 'overloaded'`)).rows).toEqual([{ size: 2 }]);
    fakeCloud().resources.set('from the cloud', { name: 'from the cloud', kind: 'plain', size: 3, parent: null, cloud_id: 'fake-outside' });
    expect((await t.query('select action, table_name from iasql_sync()')).rows).toContainEqual({ action: 'create', table_name: 'fake_node' });
    await t.query('select * from iasql_get_sql_since()');
    expect((await install(engine, db.name, ['fixture_notes'])).status).toBe(200);
    // The audit log has what happened, secret redacted: its trigger used pg_catalog's functions.
    const audit = (await t.query(`select source, change->'change'->>'secret_access_key' as secret from iasql_audit_log where table_name = 'aws_credentials' order by id desc limit 1`)).rows;
    expect(audit).toEqual([{ source: 'user', secret: '[redacted]' }]);
    await noForeignRuns();
  });

  test('cannot add triggers, rules, policies, indexes, foreign keys or child tables to a module table, nor alter, drop, truncate or comment on it', async () => {
    await t.query(`create function public.evil_trigger() returns trigger language plpgsql as $$ begin ${logRun('TG_TABLE_NAME')} return null; end $$`);
    expect(await refusals(t, [
      'create trigger evil after insert on public.fake_node for each row execute function public.evil_trigger()',
      `create rule evil as on insert to public.fake_node do also insert into public.evil_log values (current_user, 'rule')`,
      'alter table public.fake_node add column evil integer',
      `alter table public.fake_node alter column size set default public.evil('column default')`,
      'alter table public.fake_node disable trigger iasql_audit',
      'alter table public.fake_node enable row level security',
      `create policy evil on public.fake_node using (public.evil('policy') = 1)`,
      `create index evil on public.fake_node ((public.evil(name)))`,
      'create statistics evil on kind, size from public.fake_node',
      'drop table public.fake_node',
      'truncate public.fake_node',
      'create table public.evil_ref (p text references public.fake_node (name))',
      'create table public.evil_child () inherits (public.fake_node)',
      `comment on table public.fake_node is 'mine'`,
      `alter table public.fake_node owner to ${ident(tenant)}`,
      'alter table public.fake_node rename to fake_node_old',
      `select setval('public.fake_node_id_seq', 1)`,
      'create or replace view public.fake_node as select 1 as id',
    ])).toEqual([
      expect.objectContaining({ code: '42501', message: 'permission denied for table fake_node' }),
      ...Array(9).fill(expect.objectContaining({ code: '42501', message: 'must be owner of table fake_node' })),
      expect.objectContaining({ code: '42501', message: 'permission denied for table fake_node' }),
      expect.objectContaining({ code: '42501', message: 'permission denied for table fake_node' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of table fake_node' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of table fake_node' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of table fake_node' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of table fake_node' }),
      expect.objectContaining({ code: '42501', message: 'permission denied for sequence fake_node_id_seq' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of table fake_node' }),
    ]);
    // GRANT without the grant option is a warning in Postgres, and grants nothing.
    const warnings: string[] = [];
    const onNotice = (n: { message?: string }) => warnings.push(n.message ?? '');
    t.on('notice', onNotice);
    await t.query('grant all on public.fake_node to public');
    t.off('notice', onNotice);
    expect(warnings).toEqual(['no privileges were granted for "fake_node"']);
    const acl = await withClient(serverUrl(db.name), async (a) =>
      (await a.query(`select has_table_privilege('public', 'public.fake_node', 'select') as public_select, has_table_privilege($1, 'public.fake_node', 'truncate') as tenant_truncate`, [tenant])).rows,
    );
    expect(acl).toEqual([{ public_select: false, tenant_truncate: false }]);
    // The engine's writes still go through the real table and its own triggers only.
    await t.query('select * from iasql_begin()');
    await t.query(`insert into fake_node (name) values ('after the refusals')`);
    expect((await t.query(`select action from iasql_commit('after the refusals')`)).rows).toEqual([{ action: 'create' }]);
    await noForeignRuns();
  });

  test("cannot drop, replace, write or hook the engine's tables; its own tables of the same names in public are never written by the engine", async () => {
    const engineTables = ['iasql_module', 'iasql_rpc', 'iasql_audit_log', 'iasql_change_set'];
    const statements = engineTables.flatMap((table) => [
      `drop table iasql_engine.${table}`,
      `alter table iasql_engine.${table} rename to ${table}_old`,
      `create trigger evil after insert on iasql_engine.${table} for each row execute function public.evil_trigger()`,
      `create rule evil as on insert to iasql_engine.${table} do also insert into public.evil_log values (current_user, 'rule')`,
      `insert into iasql_engine.${table} select * from iasql_engine.${table} limit 1`,
      `delete from iasql_engine.${table}`,
      `truncate iasql_engine.${table}`,
    ]);
    const expected = engineTables.flatMap((table) => [
      { code: '42501', message: `must be owner of table ${table}` },
      { code: '42501', message: `must be owner of table ${table}` },
      { code: '42501', message: `permission denied for table ${table}` },
      { code: '42501', message: `must be owner of table ${table}` },
      { code: '42501', message: `permission denied for table ${table}` },
      { code: '42501', message: `permission denied for table ${table}` },
      { code: '42501', message: `permission denied for table ${table}` },
    ]);
    expect((await refusals(t, statements)).map(({ code, message }) => ({ code, message }))).toEqual(expected);
    expect(await refusals(t, [
      'create view iasql_engine.evil as select 1',
      'create or replace function iasql_engine.iasql_audit_row() returns trigger language plpgsql as $$ begin return null; end $$',
      'alter function iasql_engine.iasql_audit_row() set search_path = public, pg_catalog',
      'drop schema iasql_engine cascade',
      'drop schema public cascade',
      `create or replace function public.iasql_version() returns text language sql as $$ select public.evil('v')::text $$`,
      'alter function public.iasql_version() set search_path = public, pg_catalog',
      'drop function public.iasql_version()',
    ])).toEqual([
      expect.objectContaining({ code: '42501', message: 'permission denied for schema iasql_engine' }),
      expect.objectContaining({ code: '42501', message: 'permission denied for schema iasql_engine' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of function iasql_engine.iasql_audit_row' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of schema iasql_engine' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of schema public' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of function iasql_version' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of function public.iasql_version' }),
      expect.objectContaining({ code: '42501', message: 'must be owner of function public.iasql_version' }),
    ]);
    // Its own tables of those names, each with a trigger that logs.
    const own = ['iasql_rpc', 'iasql_audit_log', 'iasql_change_set'];
    for (const table of own) {
      await t.query(`create table public.${table} (like iasql_engine.${table})`);
      await t.query(`create trigger evil after insert or update or delete on public.${table} for each row execute function public.evil_trigger()`);
    }
    const count = (schema: string, table: string) => t.query(`select count(*)::int as n from ${schema}.${table}`).then((r) => r.rows[0].n as number);
    const before = { rpc: await count('iasql_engine', 'iasql_rpc'), audit: await count('iasql_engine', 'iasql_audit_log'), sets: await count('iasql_engine', 'iasql_change_set') };
    await t.query(`select rpc_echo('history')`);
    await t.query('select * from iasql_begin()');
    await t.query(`insert into fake_node (name) values ('own engine tables')`);
    expect((await t.query(`select action from iasql_commit('own engine tables')`)).rows).toEqual([{ action: 'create' }]);
    const after = { rpc: await count('iasql_engine', 'iasql_rpc'), audit: await count('iasql_engine', 'iasql_audit_log'), sets: await count('iasql_engine', 'iasql_change_set') };
    expect(after.rpc).toBeGreaterThan(before.rpc);
    expect(after.audit).toBeGreaterThan(before.audit);
    expect(after.sets).toBeGreaterThan(before.sets);
    for (const table of own) expect(await count('public', table)).toBe(0);
    await noForeignRuns();
  });

  test("cannot read iasql_internal (the queue's password), call its entry point or dblink, or find the password anywhere it can read", async () => {
    await t.query('select iasql_version()'); // this session's dblink connection is open
    expect(await refusals(t, [
      'select * from iasql_internal.rpc_config',
      'select * from iasql_internal.engine_migration',
      `select iasql_internal.rpc_call('iasql_functions', 'iasql_version', '{}', 1000)`,
      `select * from iasql_internal.dblink('iasql_rpc', 'select 1') as t(x integer)`,
      `select iasql_internal.dblink_connect('mine', 'dbname=postgres')`,
      'select iasql_internal.dblink_get_connections()',
    ])).toEqual(Array(6).fill(expect.objectContaining({ code: '42501', message: 'permission denied for schema iasql_internal' })));
    // Not through the catalog either: no function of the schema is executable by the tenant.
    const { rows } = await t.query(
      `select p.oid::regprocedure::text as f from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'iasql_internal' and has_function_privilege(p.oid, 'execute')`,
    );
    expect(rows).toEqual([]);
    const { queuePassword } = await rolesOf(engine.config.metadataDatabase, db.name);
    const seen = (await t.query(`select coalesce(string_agg(query, ' '), '') || coalesce((select string_agg(prosrc, ' ') from pg_proc), '') as text from pg_stat_activity`)).rows[0].text as string;
    expect(seen.includes(queuePassword)).toBe(false);
    await noForeignRuns();
  });

  test('cannot step up: no SET ROLE or SESSION AUTHORIZATION to the engine, nothing reserved to superusers, no role to grant', async () => {
    expect(await refusals(t, [
      `set role ${ident(roles.engine)}`,
      `set session authorization ${ident(roles.engine)}`,
      `grant ${ident(tenant)} to ${ident(roles.engine)}`,
      `grant ${ident(roles.engine)} to ${ident(tenant)}`,
      `alter role ${ident(tenant)} superuser`,
      'set session_replication_role = replica',
      `create event trigger evil on ddl_command_start execute function public.evil_trigger()`,
      `copy public.evil_log from program 'id'`,
      `select pg_read_file('postgresql.conf')`,
      'create extension pgcrypto',
      `load 'auto_explain'`,
      'alter system set log_statement = none',
    ])).toEqual([
      expect.objectContaining({ code: '42501', message: `permission denied to set role "${roles.engine}"` }),
      expect.objectContaining({ code: '42501', message: `permission denied to set session authorization "${roles.engine}"` }),
      expect.objectContaining({ code: '42501', message: expect.stringMatching(/^permission denied to grant role/) }),
      expect.objectContaining({ code: '42501', message: expect.stringMatching(/^permission denied to grant role/) }),
      expect.objectContaining({ code: '42501', message: 'permission denied to alter role' }),
      expect.objectContaining({ code: '42501', message: 'permission denied to set parameter "session_replication_role"' }),
      expect.objectContaining({ code: '42501', message: 'permission denied to create event trigger "evil"' }),
      expect.objectContaining({ code: '42501', message: expect.stringMatching(/^permission denied to COPY (from|to or from) an external program/) }),
      expect.objectContaining({ code: '42501', message: 'permission denied for function pg_read_file' }),
      expect.objectContaining({ code: '42501', message: expect.stringMatching(/^permission denied/) }),
      expect.objectContaining({ code: '42501', message: 'access to library "auto_explain" is not allowed' }),
      expect.objectContaining({ code: '42501', message: 'permission denied to set parameter "log_statement"' }),
    ]);
    await noForeignRuns();
  });

  // Only the tenant's own sessions resolve names through public first: an operator's psql session
  // as the admin there, or the engine's, never finds a tenant's view or function before the real one.
  test("public comes first on the search path of the tenant's own sessions only, never the database's or the engine role's", async () => {
    const settings = await withClient(serverUrl(db.name), async (a) =>
      (await a.query(
        `select coalesce(r.rolname, '(every role)') as role, s.setconfig as config, s.setdatabase = 0 as everywhere
           from pg_db_role_setting s left join pg_roles r on r.oid = s.setrole
          where s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
            and (s.setrole = 0 or r.rolname in ($1, $2, $3))
          order by 1`,
        [tenant, roles.engine, roles.queue],
      )).rows,
    );
    expect(settings).toEqual(
      [
        { role: roles.engine, config: ['search_path=pg_catalog, pg_temp'], everywhere: true },
        // With session limits: no tenant session parks idle in a transaction, or in one statement, for ever by default.
        { role: tenant, config: ['search_path="$user", public, iasql_engine', 'idle_in_transaction_session_timeout=10min', 'statement_timeout=3660000ms'], everywhere: false },
      ].sort((x, y) => x.role.localeCompare(y.role)),
    );
  });

  test('cannot connect to another database: another tenant\'s, template1, postgres, the metadata database', async () => {
    const other = await newDatabase(engine, 'neighbour');
    for (const database of [other.name, 'template1', 'postgres', engine.config.metadataDatabase]) {
      expect(await tryConnect(withDatabase(db.url, database))).toBe(`permission denied for database "${database}"`);
    }
    expect(await tryConnect(withDatabase(db.url, 'template0'))).toBe('database "template0" is not currently accepting connections');
    await noForeignRuns();
  });

  test('in the end: nothing it made ever ran as another role, and its role is still a plain one', async () => {
    const runs = await foreignRuns(db.name, tenant);
    expect(runs).toEqual({ foreign: [], hidden: 0, tenant: { rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolbypassrls: false, memberOf: [] } });
    // The views and the overloads did run: as the tenant itself, in its own session.
    const a = await adminClient(db.name);
    try {
      const mine = (await a.query(`select distinct what from public.evil_log where who operator(pg_catalog.=) $1`, [tenant])).rows.map((r) => r.what);
      expect(mine).toEqual(expect.arrayContaining(['view public.iasql_module']));
    } finally {
      await a.end();
    }
  });
});

describe('the evil log itself (positive controls)', () => {
  let db: { name: string; url: string };
  let tenant: string;
  let t: Client;
  beforeAll(async () => {
    db = await newDatabase(engine, 'control');
    tenant = roleOf(db.url);
    expect((await install(engine, db.name, ['fixture_fakecloud'])).status).toBe(200);
    t = await connect(db.url);
    await prepareEvilLog(t);
  });
  afterAll(() => t.end());

  test('records the tenant when the tenant runs its own function', async () => {
    expect((await t.query(`select public.evil('called by the tenant') as v`)).rows).toEqual([{ v: 1 }]);
    expect((await t.query('select who, what from evil_log')).rows).toEqual([{ who: tenant, what: 'called by the tenant' }]);
    await expectNoForeignRuns(db.name, tenant);
  });

  test('records another role that runs it, and counts a run whose row was rolled back', async () => {
    const { engine: engineRole } = await rolesOf(engine.config.metadataDatabase, db.name);
    const a = await adminClient(db.name);
    try {
      await a.query(`set role ${ident(engineRole)}`);
      await a.query(`select public.evil('run by the engine role')`);
      await a.query('begin');
      await a.query(`select public.evil('rolled back')`);
      await a.query('rollback');
    } finally {
      await a.end();
    }
    const runs = await foreignRuns(db.name, tenant);
    expect(runs).toMatchObject({ foreign: [{ who: engineRole, what: 'run by the engine role' }], hidden: 1 });
  });

  test('the overloads are effective where a SECURITY DEFINER trigger resolves names through public: they run as its owner', async () => {
    const { engine: engineRole } = await rolesOf(engine.config.metadataDatabase, db.name);
    await t.query(`create function public.jsonb_build_object(a text, b jsonb, c text, d jsonb) returns jsonb language plpgsql as $$
      begin ${logRunAs('public.jsonb_build_object(text, jsonb, text, jsonb)')} return pg_catalog.jsonb_build_object(a, b, c, d); end $$`);
    // What the audit trigger would be without its fixed search_path (the admin breaks it on purpose).
    await withClient(serverUrl(db.name), (a) => a.query('alter function iasql_engine.iasql_audit_row() set search_path = "$user", public, pg_catalog'));
    await t.query(`insert into fake_node (name) values ('audited through public')`);
    const runs = await foreignRuns(db.name, tenant);
    expect(runs.foreign).toContainEqual({ who: engineRole, what: 'public.jsonb_build_object(text, jsonb, text, jsonb)' });
  });
});

describe("a tenant role made before its session limits existed", () => {
  test('gets them at the next engine start', async () => {
    const first = await startModuleEngine();
    let second: TestEngine | undefined;
    const settings = (database: string, role: string) =>
      withClient(serverUrl(), async (a) =>
        (
          await a.query(
            `select s.setconfig as config from pg_db_role_setting s join pg_roles r on r.oid = s.setrole join pg_database d on d.oid = s.setdatabase
              where r.rolname = $1 and d.datname = $2`,
            [role, database],
          )
        ).rows[0]?.config,
      );
    try {
      const db = await newDatabase(first, 'oldlimits');
      const tenant = roleOf(db.url);
      await withClient(serverUrl(), (a) => a.query(`alter role ${ident(tenant)} in database ${ident(db.name)} reset all`));
      await withClient(serverUrl(), (a) => a.query(`alter role ${ident(tenant)} in database ${ident(db.name)} set search_path = "$user", public, iasql_engine`));
      expect(await settings(db.name, tenant)).toEqual(['search_path="$user", public, iasql_engine']);
      await first.stop(); // its databases and metadata stay, as after an upgrade of the engine
      second = await startModuleEngine({ metadataDatabase: first.config.metadataDatabase, home: first.config.home });
      expect(await settings(db.name, tenant)).toEqual(['search_path="$user", public, iasql_engine', 'idle_in_transaction_session_timeout=10min', 'statement_timeout=3660000ms']);
    } finally {
      await stopTestEngine(second ?? first);
    }
  });
});
