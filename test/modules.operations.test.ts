import { serverUrl, stopTestEngine, TestEngine, withClient } from './support/engine';
import { install, newDatabase, startModuleEngine, uninstall, upgrade } from './support/modules';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startModuleEngine();
});
afterAll(() => stopTestEngine(engine));

/** Everything a test can observe of a database's schema and registry, to compare before/after. */
const snapshot = (db: string) =>
  withClient(serverUrl(db), async (c) => ({
    modules: (await c.query('select name, version from iasql_module order by name')).rows,
    dependencies: (await c.query('select module, dependency from iasql_dependencies order by 1, 2')).rows,
    tables: (await c.query('select table_name, module from iasql_tables order by 1')).rows,
    relations: (await c.query(`select relname, relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = 'public' order by 1`)).rows,
    functions: (await c.query(`select proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where nspname = 'public' order by 1`)).rows,
  }));

describe('bootstrap modules', () => {
  test('every new database has iasql_platform and iasql_functions, readable but not writable by the tenant', async () => {
    const db = await newDatabase(engine);
    await withClient(db.url, async (c) => {
      const { rows } = await c.query('select * from iasql_modules_installed()');
      expect(rows).toEqual([
        { module_name: 'iasql_commit', module_version: '0.1.0', dependencies: ['iasql_platform'] },
        { module_name: 'iasql_functions', module_version: '0.1.0', dependencies: ['iasql_platform'] },
        { module_name: 'iasql_platform', module_version: '0.1.0', dependencies: [] },
      ]);
      await expect(c.query(`insert into iasql_module (name, version) values ('x', '1.0.0')`)).rejects.toThrow('permission denied for table iasql_module');
      await expect(c.query(`delete from iasql_tables`)).rejects.toThrow('permission denied for table iasql_tables');
      await expect(c.query(`delete from iasql_audit_log`)).rejects.toThrow('permission denied for table iasql_audit_log');
    });
  });

  test('bootstrap modules cannot be uninstalled', async () => {
    const db = await newDatabase(engine);
    expect(await uninstall(engine, db.name, ['iasql_platform'])).toEqual({
      status: 400,
      body: { error: { code: 'bootstrap_module', message: "'iasql_platform' is a bootstrap module and cannot be uninstalled" } },
    });
  });
});

describe('install', () => {
  test('installs a pinned version; the tenant can use its tables', async () => {
    const db = await newDatabase(engine);
    const res = await install(engine, db.name, ['fixture_notes@0.1.0']);
    expect(res).toEqual({
      status: 200,
      body: { installed: [{ module: 'fixture_notes', version: '0.1.0' }], alreadyInstalled: [], tables: [{ module: 'fixture_notes', table: 'note', records: 0 }] },
    });
    await withClient(db.url, async (c) => {
      await c.query(`insert into note (body) values ('first'), ('second')`);
      expect((await c.query('select id, body from note order by id')).rows).toEqual([
        { id: 1, body: 'first' },
        { id: 2, body: 'second' },
      ]);
      expect((await c.query(`select module_name, module_version from iasql_modules_installed() where module_name = 'fixture_notes'`)).rows).toEqual([
        { module_name: 'fixture_notes', module_version: '0.1.0' },
      ]);
    });
    expect((await engine.api('GET', `/v1/databases/${db.name}/modules`)).body.modules).toEqual([
      { name: 'fixture_notes', version: '0.1.0' },
      { name: 'iasql_commit', version: '0.1.0' },
      { name: 'iasql_functions', version: '0.1.0' },
      { name: 'iasql_platform', version: '0.1.0' },
    ]);
  });

  test('resolves dependencies transitively, root to leaf, at their latest version', async () => {
    const db = await newDatabase(engine);
    const res = await install(engine, db.name, ['fixture_tagger']);
    expect(res.status).toBe(200);
    expect(res.body.installed).toEqual([
      { module: 'fixture_notes', version: '0.3.0' },
      { module: 'fixture_tagger', version: '0.1.0' },
    ]);
    const snap = await snapshot(db.name);
    expect(snap.dependencies).toContainEqual({ module: 'fixture_tagger', dependency: 'fixture_notes' });
    // Only module tables: the engine's own (iasql_module, iasql_audit_log, ...) belong to no module.
    expect(snap.tables).toEqual([
      { table_name: 'note', module: 'fixture_notes' },
      { table_name: 'note_tag', module: 'fixture_notes' },
      { table_name: 'tagger_rule', module: 'fixture_tagger' },
    ]);
  });

  test('installing what is installed is a no-op that says so', async () => {
    const db = await newDatabase(engine);
    await install(engine, db.name, ['fixture_notes']);
    const before = await snapshot(db.name);
    const res = await install(engine, db.name, ['fixture_notes']);
    expect(res).toEqual({ status: 200, body: { installed: [], alreadyInstalled: [{ module: 'fixture_notes', version: '0.3.0' }], tables: [] } });
    expect(await snapshot(db.name)).toEqual(before);
  });

  test.each([
    [['nope'], 400, 'unknown_module', /^unknown module 'nope'; available: aws_account, aws_dynamo, aws_iam, aws_lambda, fixture_badhook, fixture_broken, fixture_fakecloud, fixture_notes, fixture_rpc, fixture_tagger, iasql_commit, iasql_functions, iasql_platform$/],
    [['fixture_notes@9.9.9'], 400, 'unknown_version', /^module 'fixture_notes' has no version 9\.9\.9; versions: 0\.1\.0, 0\.2\.0, 0\.3\.0$/],
    [['fixture_notes@latest'], 400, 'bad_request', /^invalid module 'fixture_notes@latest': use name or name@x\.y\.z$/],
    [['fixture_notes@0.1.0', 'fixture_notes@0.2.0'], 409, 'conflict', /^module 'fixture_notes' is asked for twice, at 0\.1\.0 and 0\.2\.0$/],
  ])('%j is refused with a clear error and changes nothing', async (modules, status, code, message) => {
    const db = await newDatabase(engine);
    const before = await snapshot(db.name);
    const res = await install(engine, db.name, modules);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
    expect(await snapshot(db.name)).toEqual(before);
  });

  test('asking for another version of an installed module points to upgrade', async () => {
    const db = await newDatabase(engine);
    await install(engine, db.name, ['fixture_notes@0.1.0']);
    expect((await install(engine, db.name, ['fixture_notes@0.3.0'])).body.error.message).toBe(
      "module 'fixture_notes' is installed at 0.1.0; to move it to 0.3.0, upgrade the database",
    );
  });

  test('asking for a version that does not exist, or an older one, does not point to upgrade', async () => {
    const db = await newDatabase(engine);
    await install(engine, db.name, ['fixture_notes@0.2.0']);
    expect((await install(engine, db.name, ['fixture_notes@9.9.9'])).body).toEqual({
      error: { code: 'unknown_version', message: "module 'fixture_notes' has no version 9.9.9; versions: 0.1.0, 0.2.0, 0.3.0" },
    });
    expect((await install(engine, db.name, ['fixture_notes@0.1.0'])).body).toEqual({
      error: {
        code: 'conflict',
        message: "module 'fixture_notes' is installed at 0.2.0, newer than 0.1.0; modules are not downgraded (uninstall it, which drops its tables, then install 0.1.0)",
      },
    });
  });

  test('a migration failing halfway leaves the database exactly as it was, and names module, version, file, line and statement', async () => {
    const db = await newDatabase(engine);
    const before = await snapshot(db.name);
    // Installed together with a healthy module: one transaction, so neither lands.
    const res = await install(engine, db.name, ['fixture_notes', 'fixture_broken']);
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('module_sql_failed');
    expect(res.body.error.message).toBe(
      'module fixture_broken@0.1.0: 0.1.0/up.sql line 5 failed: relation "missing" does not exist\n' +
        '  statement: CREATE TABLE public.broken_second (id integer REFERENCES missing (id))\n' +
        'nothing was changed',
    );
    expect(await snapshot(db.name)).toEqual(before);
  });

  test('a failing after_install hook leaves the database exactly as it was', async () => {
    const db = await newDatabase(engine);
    const before = await snapshot(db.name);
    const res = await install(engine, db.name, ['fixture_badhook']);
    expect(res.status).toBe(500);
    expect(res.body.error.message).toBe(
      'module fixture_badhook@0.1.0: 0.1.0/after_install.sql line 2 failed: division by zero\n  statement: SELECT 1 / 0\nnothing was changed',
    );
    expect(await snapshot(db.name)).toEqual(before);
  });
});

describe('uninstall', () => {
  test('refuses while another installed module depends on the target, naming it', async () => {
    const db = await newDatabase(engine);
    await install(engine, db.name, ['fixture_tagger']);
    const before = await snapshot(db.name);
    expect(await uninstall(engine, db.name, ['fixture_notes'])).toEqual({
      status: 409,
      body: { error: { code: 'conflict', message: "cannot uninstall 'fixture_notes': 'fixture_tagger' depends on it; uninstall it first or together" } },
    });
    expect(await snapshot(db.name)).toEqual(before);
  });

  test('uninstalls leaf to root, runs before_uninstall and the downs, reports record counts', async () => {
    const db = await newDatabase(engine);
    const before = await snapshot(db.name);
    await install(engine, db.name, ['fixture_tagger']);
    await withClient(db.url, (c) => c.query(`insert into note (content) values ('a'), ('b'); insert into tagger_rule values ('x', 'y')`));
    const res = await uninstall(engine, db.name, ['fixture_notes', 'fixture_tagger']);
    expect(res).toEqual({
      status: 200,
      body: {
        uninstalled: [
          { module: 'fixture_tagger', version: '0.1.0' },
          { module: 'fixture_notes', version: '0.3.0' },
        ],
        tables: [
          { module: 'fixture_tagger', table: 'tagger_rule', records: 1 },
          { module: 'fixture_notes', table: 'note', records: 2 },
          { module: 'fixture_notes', table: 'note_tag', records: 0 },
        ],
      },
    });
    // Back to exactly the fresh database: tables, the hook's view and registry rows are gone.
    expect(await snapshot(db.name)).toEqual(before);
  });

  test('a module that is not installed is a clear error', async () => {
    const db = await newDatabase(engine);
    expect((await uninstall(engine, db.name, ['fixture_notes'])).body.error.message).toBe(
      "module 'fixture_notes' is not installed; installed: iasql_commit, iasql_functions, iasql_platform",
    );
  });
});

describe('upgrade', () => {
  test('v1 rows are all there, correctly moved, after upgrading to v3; a database on v1 beside it keeps working', async () => {
    const old = await newDatabase(engine);
    const moving = await newDatabase(engine);
    for (const db of [old, moving]) {
      await install(engine, db.name, ['fixture_notes@0.1.0']);
      await withClient(db.url, (c) => c.query(`insert into note (body) select 'note ' || i from generate_series(1, 50) i`));
    }
    const res = await upgrade(engine, moving.name);
    expect(res).toEqual({ status: 200, body: { upgraded: [{ module: 'fixture_notes', from: '0.1.0', to: '0.3.0' }], installed: [] } });
    await withClient(moving.url, async (c) => {
      const { rows } = await c.query('select id, content from note order by id');
      expect(rows).toHaveLength(50);
      expect(rows[0]).toEqual({ id: 1, content: 'note 1' });
      expect(rows[49]).toEqual({ id: 50, content: 'note 50' });
      // v3's table, its hook's view and its check are in place, and the tenant can use them.
      await c.query(`insert into note_tag (note_id, label) values (1, 'red'), (1, 'blue')`);
      expect((await c.query('select tags from note_summary where id = 1')).rows).toEqual([{ tags: 2 }]);
      // New rows continue the old sequence.
      expect((await c.query(`insert into note (content) values ('next') returning id`)).rows).toEqual([{ id: 51 }]);
      await expect(c.query(`insert into note (content) values ('')`)).rejects.toThrow('violates check constraint "note_content_not_blank"');
    });
    // The database still on 0.1.0: its shape, its data, its version.
    await withClient(old.url, async (c) => {
      await c.query(`insert into note (body) values ('still v1')`);
      expect((await c.query('select count(*)::int as n from note')).rows).toEqual([{ n: 51 }]);
      await expect(c.query('select * from note_tag')).rejects.toThrow('relation "note_tag" does not exist');
    });
    expect((await snapshot(old.name)).modules).toContainEqual({ name: 'fixture_notes', version: '0.1.0' });
    expect((await snapshot(moving.name)).tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['note', 'note_tag']),
    );
  });

  test('upgrading an up-to-date database changes nothing', async () => {
    const db = await newDatabase(engine);
    await install(engine, db.name, ['fixture_notes']);
    expect(await upgrade(engine, db.name)).toEqual({ status: 200, body: { upgraded: [], installed: [] } });
  });

  test('a failed upgrade leaves the database on its old versions, fully working', async () => {
    const db = await newDatabase(engine);
    await install(engine, db.name, ['fixture_notes@0.2.0']);
    await withClient(db.url, (c) => c.query(`insert into note (content) values ('fine'), ('')`));
    const before = await snapshot(db.name);
    const res = await upgrade(engine, db.name);
    expect(res.status).toBe(500);
    expect(res.body.error.message).toMatch(
      /^module fixture_notes@0\.3\.0: 0\.3\.0\/up\.sql line 2 failed: check constraint "note_content_not_blank" of relation "note" is violated by some row\n/,
    );
    expect(await snapshot(db.name)).toEqual(before);
    await withClient(db.url, async (c) => {
      await c.query(`insert into note (content) values ('after failed upgrade')`);
      expect((await c.query('select content from note order by id')).rows.map((r) => r.content)).toEqual(['fine', '', 'after failed upgrade']);
    });
  });
});

describe('REST', () => {
  test('GET /v1/modules lists every module and version with dependencies, tables and rpc interface', async () => {
    const res = await engine.api('GET', '/v1/modules');
    expect(res.status).toBe(200);
    const notes = res.body.modules.find((m: { name: string }) => m.name === 'fixture_notes');
    expect(notes).toEqual({
      name: 'fixture_notes',
      description: 'Test fixture: notes, then tags',
      bootstrap: false,
      latest: '0.3.0',
      versions: [
        { version: '0.1.0', dependencies: [], tables: ['note'], rpc: [] },
        { version: '0.2.0', dependencies: [], tables: ['note'], rpc: [] },
        {
          version: '0.3.0',
          dependencies: [],
          tables: ['note', 'note_tag'],
          rpc: [{ name: 'note_count', description: 'How many notes there are', example: 'SELECT note_count();', args: [], returns: { scalar: 'integer' } }],
        },
      ],
    });
    expect(res.body.modules.find((m: { name: string }) => m.name === 'iasql_platform').bootstrap).toBe(true);
  });

  test.each([
    [{}, 'send exactly one of {"install": [...]} or {"uninstall": [...]}'],
    [{ install: ['a'], uninstall: ['b'] }, 'send exactly one of {"install": [...]} or {"uninstall": [...]}'],
    [{ install: 'fixture_notes' }, 'install: must be a list of module names'],
    [{ install: [] }, 'install: list at least one module'],
    [{ install: [1] }, 'install.0: module names must be strings'],
    [{ add: ['x'] }, "unknown field(s) 'add'"],
  ])('bad body %j is 400', async (body, message) => {
    const db = await newDatabase(engine);
    expect(await engine.api('POST', `/v1/databases/${db.name}/modules`, body)).toEqual({ status: 400, body: { error: { code: 'bad_request', message } } });
  });

  test('an unknown database is 404', async () => {
    expect((await install(engine, 'nosuchdb', ['fixture_notes'])).status).toBe(404);
    expect((await upgrade(engine, 'nosuchdb')).status).toBe(404);
  });
});
