import * as path from 'node:path';
import { Client } from 'pg';
import { fakeCloud } from './fixtures/modules/fakecloud';
import { stopTestEngine, TestEngine, withClient } from './support/engine';
import { FIXTURE_MODULES, install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';

// The audit log tells the user's intent from the engine's mechanics: what module SQL writes is
// not pending work, and replays leave out what was thrown away. All of it as the tenant, in SQL.
let engine: TestEngine;
let c: Client;
const cloud = fakeCloud();
/** fixture_seeder, whose SQL writes rows; loaded by this file only. */
const AUDIT_FIXTURES = path.join(__dirname, 'fixtures', 'audit-modules');

beforeAll(async () => {
  engine = await startModuleEngine({ modulePath: [FIXTURE_MODULES, AUDIT_FIXTURES] });
  const db = await newDatabase(engine, 'audit');
  expect((await install(engine, db.name, ['fixture_fakecloud'])).status).toBe(200);
  c = await connect(db.url);
});
afterAll(async () => {
  await c?.end();
  await stopTestEngine(engine);
});
beforeEach(() => cloud.fail.clear());
// Each test starts with no change set open, whatever the one before left.
afterEach(async () => {
  if ((await c.query(`select 1 from iasql_change_set where status = 'open'`)).rowCount) await c.query('select * from iasql_rollback()');
});

const rows = async (client: Client, sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows;
/** The names of the nodes the replay SQL inserts, in order. */
const replayedNames = (sql: string[]) => sql.map((s) => /"name":\s*"([^"]+)"/.exec(s)?.[1] ?? s);

describe('module SQL is the engine at work, not the user', () => {
  test('rows written by migrations and hooks during install, upgrade and uninstall are not pending changes', async () => {
    const db = await newDatabase(engine, 'seeded');
    await withClient(db.url, async (t) => {
      const q = (sql: string) => rows(t, sql);
      /** Opens a change set, checks what it holds against the preview, and closes it again. */
      const pendingAndPreview = async () => {
        const [{ pending_changes }] = await q('select * from iasql_begin()');
        const preview = await q('select * from iasql_preview()');
        await q('select * from iasql_commit()');
        return { pending: pending_changes, preview: preview.length };
      };
      const sources = async () => (await q(`select distinct source from iasql_audit_log where change_type in ('INSERT', 'UPDATE', 'DELETE') order by source`)).map((r) => r.source);

      // fixture_seeder's after_install hook writes a note into fixture_notes' (audited) table.
      await q(`select * from iasql_install('fixture_seeder@0.1.0')`);
      expect(await q(`select content from note`)).toEqual([{ content: 'seeded by fixture_seeder' }]);
      expect(await pendingAndPreview()).toEqual({ pending: 0, preview: 0 });
      expect(await sources()).toEqual(['install']);

      // The 0.2.0 migration writes its own table, whose audit trigger is already there; the hook runs again.
      await q('select * from iasql_upgrade()');
      expect(await q(`select label from seed`)).toEqual([{ label: 'WRITTEN BY THE 0.2.0 MIGRATION' }]);
      expect(await pendingAndPreview()).toEqual({ pending: 0, preview: 0 });
      expect(await sources()).toEqual(['install', 'upgrade']);

      // The before_uninstall hook deletes its note; the note table stays.
      await q(`select * from iasql_uninstall('fixture_seeder')`);
      expect(await q(`select content from note`)).toEqual([]);
      expect(await pendingAndPreview()).toEqual({ pending: 0, preview: 0 });
      expect(await sources()).toEqual(['install', 'uninstall', 'upgrade']);

      // Nothing the user did: nothing to replay. A user's own note is.
      expect(await q('select sql from iasql_get_sql_since()')).toEqual([]);
      await q(`insert into note (content) values ('mine')`);
      expect((await q('select sql from iasql_get_sql_since()')).map((r) => r.sql)).toEqual([expect.stringMatching(/^INSERT INTO "note" \("content"\) SELECT .*"mine"/)]);
      expect((await q('select * from iasql_begin()'))[0].pending_changes).toBe(1);
    });
  });
});

describe('replays reproduce what the user meant', () => {
  test('edits of rolled-back and failed change sets are left out; committed, pending and open ones stay', async () => {
    const since = (await rows(c, 'select now() as t'))[0].t;
    const tx = async (sql: string) => (await rows(c, `${sql} returning txid_current()::text as tx`))[0].tx as string;

    // Rolled back: thrown away.
    await rows(c, 'select * from iasql_begin()');
    const rolledBack = await tx(`insert into fake_node (name) values ('rolled_back')`);
    await rows(c, 'select * from iasql_rollback()');

    // Committed: kept.
    await rows(c, 'select * from iasql_begin()');
    const committed = await tx(`insert into fake_node (name) values ('committed')`);
    await rows(c, 'select * from iasql_commit()');

    // Edited before begin, then the commit failed and was reverted: thrown away with it.
    await rows(c, `insert into fake_node (name) values ('before_failed')`);
    await rows(c, 'select * from iasql_begin()');
    await rows(c, `insert into fake_node (name) values ('failed')`);
    cloud.fail.set('create:failed', 'ValidationException');
    const failure = await sqlError(c, 'select * from iasql_commit()');
    expect(failure.message).toContain('iasql_commit failed');
    expect(await rows(c, `select name from fake_node where name in ('before_failed', 'failed')`)).toEqual([]);
    // The hint says where the thrown-away edits still are.
    const where = /iasql_audit_log keeps the ones thrown away \((WHERE source = 'user' AND id > \d+ AND id <= \d+)\)$/.exec(failure.hint ?? '');
    expect(where).not.toBeNull();
    expect((await rows(c, `select change->'change'->>'name' as name from iasql_audit_log ${where![1]} order by id`)).map((r) => r.name)).toEqual(['before_failed', 'failed']);

    // Outside any change set: the user's intent still (part of the next change set).
    await rows(c, `insert into fake_node (name) values ('no_begin_yet')`);
    // In the open change set: intent too, until it is rolled back.
    expect((await rows(c, 'select * from iasql_begin()'))[0].pending_changes).toBe(1);
    await rows(c, `insert into fake_node (name) values ('open')`);

    const replay = (await rows(c, 'select sql from iasql_get_sql_since($1)', [since])).map((r) => r.sql);
    expect(replayedNames(replay)).toEqual(['committed', 'no_begin_yet', 'open']);
    expect(await rows(c, 'select sql from iasql_get_sql_for_transaction($1)', [rolledBack])).toEqual([]);
    expect(await rows(c, 'select sql from iasql_get_sql_for_transaction($1)', [committed])).toHaveLength(1);

    // Replayed on a fresh database, it gives the rows the user meant to have.
    const fresh = await newDatabase(engine, 'replayed');
    expect((await install(engine, fresh.name, ['fixture_fakecloud'])).status).toBe(200);
    await withClient(fresh.url, async (f) => {
      await f.query(`delete from fake_node`); // the import brought the fake cloud's nodes
      for (const s of replay) await f.query(s);
      expect((await f.query(`select name from fake_node order by name`)).rows.map((r) => r.name)).toEqual(['committed', 'no_begin_yet', 'open']);
    });
  });
});

describe('a tenant cannot hide its writes', () => {
  test('setting iasql.source, or turning triggers off, leaves its writes recorded as its own', async () => {
    const since = (await rows(c, 'select now() as t'))[0].t;
    await c.query(`set iasql.source = 'import'`);
    await c.query(`insert into fake_node (name) values ('spoof_set')`);
    await c.query(`select set_config('iasql.source', 'commit', false)`);
    await c.query(`update fake_node set size = 7 where name = 'spoof_set'`);
    await c.query(`begin; select set_config('iasql.source', 'sync', true); delete from fake_node where name = 'spoof_set'; commit`);
    await c.query('reset iasql.source');
    expect(await sqlError(c, `set session_replication_role = replica`)).toMatchObject({ code: '42501' });
    expect(await sqlError(c, `alter table fake_node disable trigger iasql_audit`)).toMatchObject({ code: '42501' });
    expect(await sqlError(c, `truncate fake_node`)).toMatchObject({ code: '42501' });

    const log = await rows(c, `select change_type, source from iasql_audit_log where table_name = 'fake_node' and (change->'change'->>'name' = 'spoof_set' or change->'original'->>'name' = 'spoof_set') order by id`);
    expect(log).toEqual([
      { change_type: 'INSERT', source: 'user' },
      { change_type: 'UPDATE', source: 'user' },
      { change_type: 'DELETE', source: 'user' },
    ]);
    expect((await rows(c, 'select * from iasql_begin()'))[0].pending_changes).toBe(3);
    expect((await rows(c, 'select sql from iasql_get_sql_since($1)', [since])).map((r) => r.sql)).toEqual([
      expect.stringMatching(/^INSERT INTO "fake_node" .*"spoof_set"/),
      expect.stringMatching(/^UPDATE "fake_node" SET \("size"\)/),
      expect.stringMatching(/^DELETE FROM "fake_node" WHERE/),
    ]);
  });
});
