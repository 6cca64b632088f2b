import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, withClient } from './support/engine';
import { FIXTURE_JS_MODULES, install, newDatabase } from './support/modules';

// Modules in plain JavaScript (test/fixtures/js-modules): no decorators, so no entity classes.
// The engine learns their tables from what their migrations create.

const ROOT = path.join(__dirname, '..');

let engine: TestEngine;
beforeAll(async () => {
  expect(fs.existsSync(path.join(ROOT, 'dist', 'src', 'index.js'))).toBe(true); // the shelf fixture requires the built package; npm test builds it
  engine = await startTestEngine({ modulePath: loadConfig({ IASQL_MODULE_PATH: FIXTURE_JS_MODULES }).modulePath });
});
afterAll(() => stopTestEngine(engine));

/** The schema and registry of a database, to compare before and after. */
const snapshot = (db: string) =>
  withClient(serverUrl(db), async (c) => ({
    modules: (await c.query('select name, version from iasql_module order by name')).rows,
    tables: (await c.query('select table_name, module from iasql_tables order by 1')).rows,
    relations: (await c.query(`select relname, relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace where nspname = 'public' order by 1`)).rows,
  }));

const moduleTables = (c: { query: (sql: string) => Promise<{ rows: Array<{ table_name: string }> }> }, module: string) =>
  c.query(`select table_name from iasql_tables where module = '${module}' order by 1`).then((r) => r.rows.map((x) => x.table_name));

describe('a plain-JavaScript module without entities, as the tenant over SQL', () => {
  test('install records and grants the tables its migration created; upgrade keeps the rows through an added, a dropped and a renamed table; uninstall drops them all', async () => {
    const db = await newDatabase(engine, 'plainjs');
    // The tenant's own table, there before the module: never the module's.
    await withClient(db.url, (c) => c.query('create table my_notes (body text)'));
    const before = await snapshot(db.name);
    await withClient(db.url, async (c) => {
      expect((await c.query(`select * from iasql_install('fixture_js_shelf@0.1.0')`)).rows).toEqual([
        { module_name: 'fixture_js_shelf', created_table_name: 'shelf_book', record_count: 0 },
        { module_name: 'fixture_js_shelf', created_table_name: 'shelf_draft', record_count: 0 },
      ]);
      expect(await moduleTables(c, 'fixture_js_shelf')).toEqual(['shelf_book', 'shelf_draft']);
      await c.query(`insert into shelf_book (title) values ('Dune'), ('Emma')`);
      await c.query(`insert into shelf_draft (title) values ('Sequel')`);
      expect((await c.query('select id, title from shelf_book order by id')).rows).toEqual([
        { id: 1, title: 'Dune' },
        { id: 2, title: 'Emma' },
      ]);

      // 0.2.0 adds a column and a table, 0.3.0 drops that table and renames another.
      expect((await c.query('select * from iasql_upgrade()')).rows).toEqual([{ module_name: 'fixture_js_shelf', from_version: '0.1.0', to_version: '0.3.0' }]);
      expect(await moduleTables(c, 'fixture_js_shelf')).toEqual(['shelf_book', 'shelf_wish']);
      expect((await c.query('select id, title, author, borrower from shelf_book order by id')).rows).toEqual([
        { id: 1, title: 'Dune', author: null, borrower: null },
        { id: 2, title: 'Emma', author: null, borrower: null },
      ]);
      expect((await c.query('select title from shelf_wish')).rows).toEqual([{ title: 'Sequel' }]);
      await c.query(`insert into shelf_wish (title) values ('Another')`);
      await expect(c.query('select * from shelf_draft')).rejects.toThrow('relation "shelf_draft" does not exist');

      expect((await c.query(`select * from iasql_uninstall('fixture_js_shelf')`)).rows).toEqual([
        { module_name: 'fixture_js_shelf', dropped_table_name: 'shelf_book', record_count: 2 },
        { module_name: 'fixture_js_shelf', dropped_table_name: 'shelf_wish', record_count: 2 },
      ]);
      await expect(c.query('select * from shelf_book')).rejects.toThrow('relation "shelf_book" does not exist');
    });
    expect(await snapshot(db.name)).toEqual(before);
    expect(await engine.modules.check(db.name)).toEqual([]);
  });

  test('v2 installed directly: the added table is recorded and writable; upgrading folds its rows into the book table', async () => {
    const db = await newDatabase(engine, 'plainjs');
    await withClient(db.url, async (c) => {
      expect((await c.query(`select * from iasql_install('fixture_js_shelf@0.2.0')`)).rows.map((r) => r.created_table_name)).toEqual([
        'shelf_book',
        'shelf_draft',
        'shelf_loan',
      ]);
      await c.query(`insert into shelf_book (title, author) values ('Dune', 'Herbert')`);
      await c.query(`insert into shelf_loan (book_id, borrower) values (1, 'ana')`);
      expect(await engine.modules.check(db.name)).toEqual(['module \'fixture_js_shelf\' is at 0.2.0, not 0.3.0']);
      await c.query('select * from iasql_upgrade()');
      expect((await c.query('select title, author, borrower from shelf_book')).rows).toEqual([{ title: 'Dune', author: 'Herbert', borrower: 'ana' }]);
      expect(await moduleTables(c, 'fixture_js_shelf')).toEqual(['shelf_book', 'shelf_wish']);
    });
    expect(await engine.modules.check(db.name)).toEqual([]);
  });

  test('tables a faulty down.sql leaves behind are dropped all the same, reported, and logged', async () => {
    const db = await newDatabase(engine, 'plainjs');
    const before = await snapshot(db.name);
    await withClient(db.url, async (c) => {
      await c.query(`select * from iasql_install('fixture_js_leaky')`);
      await c.query('insert into leaky_item values (1)');
      expect((await c.query(`select * from iasql_uninstall('fixture_js_leaky')`)).rows).toEqual([
        { module_name: 'fixture_js_leaky', dropped_table_name: 'leaky_item', record_count: 1 },
      ]);
    });
    expect(await snapshot(db.name)).toEqual(before);
    expect(engine.logs()).toContain('the down migrations left these tables; the engine dropped them');
  });
});

describe('a plain-JavaScript module with EntitySchema entities', () => {
  test('installs and upgrades like any other; the tables are checked against the entities', async () => {
    const db = await newDatabase(engine, 'plainjs');
    const res = await install(engine, db.name, ['fixture_js_typed@0.1.0']);
    expect(res).toEqual({
      status: 200,
      body: { installed: [{ module: 'fixture_js_typed', version: '0.1.0' }], alreadyInstalled: [], tables: [{ module: 'fixture_js_typed', table: 'typed_label', records: 0 }] },
    });
    await withClient(db.url, async (c) => {
      await c.query(`insert into typed_label (text) values ('red')`);
      await c.query('select * from iasql_upgrade()');
      expect((await c.query('select id, text, color from typed_label')).rows).toEqual([{ id: 1, text: 'red', color: null }]);
    });
    expect(await engine.modules.check(db.name)).toEqual([]);
  });

  test('entities the migration does not match: a clear error naming module, version and tables; nothing changes', async () => {
    const db = await newDatabase(engine, 'plainjs');
    const before = await snapshot(db.name);
    const message =
      'module fixture_js_mismatch@0.1.0: after 0.1.0/up.sql:\n' +
      "  - entity MismatchGadget maps to table 'mismatch_gadget', which does not exist after the migration\n" +
      "  - table 'mismatch_extra' has no entity (declare one for every table, or declare none)\n" +
      'nothing was changed';
    expect(await install(engine, db.name, ['fixture_js_typed', 'fixture_js_mismatch'])).toEqual({
      status: 500,
      body: { error: { code: 'module_tables_mismatch', message } },
    });
    await withClient(db.url, (c) => expect(c.query(`select * from iasql_install('fixture_js_mismatch')`)).rejects.toThrow(message));
    expect(await snapshot(db.name)).toEqual(before);
  });
});

describe('loading', () => {
  test('module.exports and exports.default both define a module; EntitySchema tables are known at start', () => {
    const declared = (name: string) => engine.registry.resolve(name).tables;
    expect(engine.registry.list().map((m) => m.name)).toEqual(
      expect.arrayContaining(['fixture_js_leaky', 'fixture_js_mismatch', 'fixture_js_shelf', 'fixture_js_typed']),
    );
    expect(declared('fixture_js_shelf')).toEqual([]);
    expect(declared('fixture_js_typed')).toEqual(['typed_label']);
    expect(declared('fixture_js_mismatch')).toEqual(['mismatch_item', 'mismatch_gadget']);
  });

  // Under jest everything could be transpiled; the compiled engine runs plain Node.
  test('plain Node loads them with the compiled registry, no TypeScript involved', async () => {
    const script = `
      const { ModuleRegistry, BUILTIN_MODULES_DIR } = require(${JSON.stringify(path.join(ROOT, 'dist', 'src', 'modules', 'registry'))});
      const r = ModuleRegistry.load([BUILTIN_MODULES_DIR, ${JSON.stringify(FIXTURE_JS_MODULES)}]);
      console.log(JSON.stringify(r.list().map((m) => [m.name, m.versions.map((v) => v.version)])));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
    expect(JSON.parse(stdout)).toEqual([
      ['aws_account', ['0.1.0']],
      ['aws_dynamo', ['0.1.0']],
      ['aws_iam', ['0.1.0', '0.2.0']],
      ['aws_lambda', ['0.1.0', '0.2.0']],
      ['fixture_js_leaky', ['0.1.0']],
      ['fixture_js_mismatch', ['0.1.0']],
      ['fixture_js_shelf', ['0.1.0', '0.2.0', '0.3.0']],
      ['fixture_js_typed', ['0.1.0', '0.2.0']],
      ['iasql_commit', ['0.1.0']],
      ['iasql_functions', ['0.1.0']],
      ['iasql_platform', ['0.1.0']],
    ]);
  });
});
