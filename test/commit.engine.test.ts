import { Client } from 'pg';
import { ENGINE_LOCK_CLASS, ENGINE_LOCKS, pgLocksMatch } from '../src/postgres/lock-keys';
import { fakeCloud } from './fixtures/modules/fakecloud';
import { serverUrl, stopTestEngine, TestEngine, withClient } from './support/engine';
import { install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';

// The commit engine against a cloud in this process whose faults are injected on demand.
let engine: TestEngine;
let db: { name: string; url: string };
let c: Client;
const cloud = fakeCloud();

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'commit');
  expect((await install(engine, db.name, ['fixture_fakecloud'])).status).toBe(200);
  c = await connect(db.url);
});
afterAll(async () => {
  await c?.end();
  await stopTestEngine(engine);
});
beforeEach(() => {
  cloud.gate = undefined;
  cloud.fail.clear();
  cloud.failAfter.clear();
  cloud.ignore.clear();
  cloud.throttle.clear();
  cloud.delayMs = 0;
  cloud.calls.length = 0;
  cloud.maxInFlight = 0;
});

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
const nodes = () => rows('select name, kind, size, parent, cloud_id from fake_node order by name');
const cloudNodes = () => [...cloud.resources.values()].map((r) => ({ ...r })).sort((a, b) => String(a.name).localeCompare(String(b.name)));

/** Opens a change set, runs the edits, commits; returns what the commit reported. */
async function change(sql: string, message = 'test') {
  await rows('select * from iasql_begin()');
  await c.query(sql);
  return rows('select * from iasql_commit($1)', [message]);
}

describe('begin, preview, commit', () => {
  test('rows in, cloud resources out, with cloud fields written back', async () => {
    expect(await rows('select * from iasql_begin()')).toEqual([{ change_set_id: expect.any(Number), pending_changes: 0 }]);
    await c.query(`insert into fake_node (name, size) values ('alpha', 2), ('beta', 3)`);
    const [a, b] = await rows(`select id from fake_node where name in ('alpha', 'beta') order by name`);
    const plan = [
      { action: 'create', table_name: 'fake_node', id: a.id, description: 'alpha' },
      { action: 'create', table_name: 'fake_node', id: b.id, description: 'beta' },
    ];
    expect(await rows('select * from iasql_preview()')).toEqual(plan);
    expect(cloud.resources.size).toBe(0); // preview changes nothing
    expect(await rows(`select * from iasql_commit('two nodes')`)).toEqual(plan);
    expect(cloudNodes()).toEqual([
      { name: 'alpha', kind: 'plain', size: 2, parent: null, cloud_id: expect.stringMatching(/^fake-\d+$/) },
      { name: 'beta', kind: 'plain', size: 3, parent: null, cloud_id: expect.stringMatching(/^fake-\d+$/) },
    ]);
    expect(await nodes()).toEqual(cloudNodes());
  });

  test('update in place, replace when a field cannot change, delete; a user edit of a cloud field is restored', async () => {
    const before = cloud.resources.get('beta')!.cloud_id;
    expect(
      await change(`update fake_node set size = 5 where name = 'alpha';
                    update fake_node set kind = 'special' where name = 'beta';
                    insert into fake_node (name) values ('gamma');`),
    ).toEqual([
      { action: 'update', table_name: 'fake_node', id: expect.any(Number), description: 'alpha' },
      { action: 'replace', table_name: 'fake_node', id: expect.any(Number), description: 'beta' },
      { action: 'create', table_name: 'fake_node', id: expect.any(Number), description: 'gamma' },
    ]);
    expect(cloud.resources.get('alpha')!.size).toBe(5);
    expect(cloud.resources.get('beta')).toMatchObject({ kind: 'special' });
    expect(cloud.resources.get('beta')!.cloud_id).not.toBe(before);
    expect(await nodes()).toEqual(cloudNodes());

    expect(await change(`update fake_node set cloud_id = 'forged' where name = 'gamma'`)).toEqual([]);
    expect((await rows(`select cloud_id from fake_node where name = 'gamma'`))[0].cloud_id).toBe(cloud.resources.get('gamma')!.cloud_id);

    expect(await change(`delete from fake_node where name = 'gamma'`)).toEqual([{ action: 'delete', table_name: 'fake_node', id: null, description: 'gamma' }]);
    expect(cloud.resources.has('gamma')).toBe(false);
  });

  test('without a begin, or with one open already, the functions say what to do', async () => {
    expect(await sqlError(c, 'select * from iasql_preview()')).toMatchObject({ code: 'IQ001', message: expect.stringContaining('no change set is open: SELECT * FROM iasql_begin() first') });
    expect(await sqlError(c, 'select * from iasql_commit()')).toMatchObject({ message: expect.stringContaining('no change set is open') });
    expect(await sqlError(c, 'select * from iasql_rollback()')).toMatchObject({ message: expect.stringContaining('no change set is open: there is nothing to roll back') });
    await rows('select * from iasql_begin()');
    expect(await sqlError(c, 'select * from iasql_begin()')).toMatchObject({ message: expect.stringMatching(/^change set \d+ is already open/) });
    expect(await rows('select * from iasql_commit()')).toEqual([]);
  });
});

describe('rollback and sync', () => {
  test('rollback puts the touched rows back to what the cloud has', async () => {
    const before = await nodes();
    await rows('select * from iasql_begin()');
    await c.query(`update fake_node set size = 99 where name = 'alpha'; delete from fake_node where name = 'beta'; insert into fake_node (name) values ('never')`);
    const done = await rows('select * from iasql_rollback()');
    expect(done.map((r) => `${r.action} ${r.description}`).sort()).toEqual(['create beta', 'delete never', 'update alpha']);
    expect(await nodes()).toEqual(before);
    expect(cloudNodes()).toEqual(before);
  });

  test('sync imports what changed behind our back; preview_sync reports it and changes nothing', async () => {
    cloud.resources.set('outside', { name: 'outside', kind: 'plain', size: 7, parent: null, cloud_id: 'fake-out' });
    cloud.resources.get('alpha')!.size = 42;
    const beta = cloud.resources.get('beta')!;
    cloud.resources.delete('beta');
    const drift = await rows('select action, table_name, description from iasql_preview_sync() order by description');
    expect(drift).toEqual([
      { action: 'update', table_name: 'fake_node', description: 'alpha' },
      { action: 'delete', table_name: 'fake_node', description: 'beta' },
      { action: 'create', table_name: 'fake_node', description: 'outside' },
    ]);
    expect((await nodes()).map((n) => n.name)).toEqual(['alpha', 'beta']);
    expect((await rows('select action, description from iasql_sync() order by description')).map((r) => r.action)).toEqual(['update', 'delete', 'create']);
    expect(await nodes()).toEqual(cloudNodes());
    expect(await rows('select * from iasql_preview_sync()')).toEqual([]);
    // Engine writes are marked, and are no user intent: the next change set is empty.
    expect((await rows(`select distinct source from iasql_audit_log where change_type in ('INSERT', 'UPDATE', 'DELETE') and id > (select max(id) - 3 from iasql_audit_log)`)).map((r) => r.source)).toEqual(['sync']);
    expect(await rows('select * from iasql_begin()')).toEqual([{ change_set_id: expect.any(Number), pending_changes: 0 }]);
    expect(await rows('select * from iasql_preview()')).toEqual([]);
    await rows('select * from iasql_rollback()');
    cloud.resources.set('beta', beta);
    await rows('select * from iasql_sync()');
  });
});

describe('apply order, concurrency, faults', () => {
  test('a chain applies parent first and deletes in reverse; independent nodes run at the same time', async () => {
    cloud.delayMs = 30;
    await change(`insert into fake_node (name, parent) values ('c1', null); insert into fake_node (name, parent) values ('c2', 'c1'); insert into fake_node (name, parent) values ('c3', 'c2');
                  insert into fake_node (name) select 'free' || i from generate_series(1, 6) i`);
    const start = (n: string) => cloud.calls.find((x) => x.name === n)!;
    expect(start('c1').end).toBeLessThanOrEqual(start('c2').start);
    expect(start('c2').end).toBeLessThanOrEqual(start('c3').start);
    expect(cloud.maxInFlight).toBeGreaterThanOrEqual(4);
    cloud.calls.length = 0;
    await change(`delete from fake_node where name = 'c3'; delete from fake_node where name = 'c2'; delete from fake_node where name = 'c1'; delete from fake_node where name like 'free%'`);
    expect(start('c3').end).toBeLessThanOrEqual(start('c2').start);
    expect(start('c2').end).toBeLessThanOrEqual(start('c1').start);
  });

  test('throttling is retried until it goes through', async () => {
    cloud.throttle.set('create:throttled', 3);
    expect(await change(`insert into fake_node (name) values ('throttled')`)).toHaveLength(1);
    expect(cloud.resources.has('throttled')).toBe(true);
    expect(cloud.calls.filter((x) => x.name === 'throttled')).toHaveLength(4);
  });

  test('a partial failure reverts what was applied, restores the rows and reports each failure', async () => {
    const rowsBefore = await nodes();
    const cloudBefore = cloudNodes();
    cloud.fail.set('create:bad', 'ValidationException');
    await rows('select * from iasql_begin()');
    await c.query(`update fake_node set size = 11 where name = 'alpha'; insert into fake_node (name) values ('good1'), ('good2'), ('bad'); delete from fake_node where name = 'throttled'`);
    const err = await sqlError(c, `select * from iasql_commit('will fail')`);
    expect(err.code).toBe('IQ001');
    expect(err.message).toMatch(/^iasql_commit failed: 1 of 5 operations failed; the \d applied were reverted; the rows are back as they were/);
    expect(err.message).toContain('create fake_node bad: ValidationException: create of bad refused by the fake cloud');
    expect(err.detail).toBe('ValidationException');
    expect(cloudNodes().map(({ cloud_id: _, ...r }) => r)).toEqual(cloudBefore.map(({ cloud_id: _, ...r }) => r));
    expect((await nodes()).map(({ cloud_id: _, ...r }) => r)).toEqual(rowsBefore.map(({ cloud_id: _, ...r }) => r));
    expect(await rows(`select method_name, err from iasql_get_errors() limit 1`)).toEqual([{ method_name: 'iasql_commit', err: err.message }]);
    expect(await rows(`select change_type, message, change->'failed'->0->>'code' as code from iasql_audit_log where change_type = 'ERROR' order by id desc limit 1`)).toEqual([
      { change_type: 'ERROR', message: 'will fail', code: 'ValidationException' },
    ]);
    // The change set is closed: a new one starts clean.
    expect(await rows('select status from iasql_change_set order by id desc limit 1')).toEqual([{ status: 'failed' }]);
    expect(await rows('select * from iasql_begin()')).toEqual([{ change_set_id: expect.any(Number), pending_changes: 0 }]);
    expect(await rows('select * from iasql_rollback()')).toEqual([]);
    await rows('select * from iasql_sync()');
  });

  /** Holds every cloud write until the returned function is called. */
  const hold = () => {
    let release!: () => void;
    cloud.gate = new Promise<void>((r) => (release = r));
    return () => {
      cloud.gate = undefined;
      release();
    };
  };
  const until = async (check: () => Promise<boolean> | boolean) => {
    for (let i = 0; i < 1000 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
  };
  const lastStatus = async (client: Client) => (await client.query(`select status from iasql_change_set order by id desc limit 1`)).rows[0].status;

  test('a second commit while one runs fails at once; so does a begin', async () => {
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('slow')`);
    const release = hold();
    const committing = c.query(`select * from iasql_commit()`);
    await withClient(db.url, async (other) => {
      await until(async () => (await lastStatus(other)) === 'committing' && cloud.inFlight > 0);
      expect(await sqlError(other, 'select * from iasql_commit()')).toMatchObject({ message: expect.stringMatching(/^cannot commit: a commit is running in this database \(change set \d+\)/) });
      expect(await sqlError(other, 'select * from iasql_begin()')).toMatchObject({ message: expect.stringContaining('cannot begin: a commit is running') });
      // Both answered while the first commit was still held mid-way: at once, not after it.
      expect(await lastStatus(other)).toBe('committing');
    });
    release();
    expect((await committing).rows).toHaveLength(1);
  });

  test('while a commit runs, the engine holds a lock for its call (bigint form, the call id) and the commit lock (two-int4 form, its own key), nothing else', async () => {
    const meta = serverUrl(engine.config.metadataDatabase);
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('keys')`);
    const release = hold();
    try {
      const committing = c.query(`select * from iasql_commit()`);
      await until(async () => (await withClient(db.url, lastStatus)) === 'committing' && cloud.inFlight > 0);
      // The engine's advisory locks, here and in the metadata database: a running call's (bigint form,
      // its id) or an engine lock (two-int4 form, the engine's class, a key of its own). Nothing else.
      const engineLocks = (url: string) =>
        withClient(url, async (a) => (await a.query(`
          select l.objsubid::int as form, l.classid::bigint as hi, l.objid::bigint as lo, l.mode
          from pg_locks l join pg_stat_activity s on s.pid = l.pid
          where l.locktype = 'advisory' and l.granted and s.application_name = 'iasql'
            and l.database = (select oid from pg_database where datname = current_database())
          order by 1, 2, 3`)).rows);
      const running = (await withClient(meta, (m) => m.query(`select id::text from public.rpc_call where status = 'running'`))).rows.map((r) => BigInt(r.id));
      expect(running).toHaveLength(1); // the commit's own call
      expect(await engineLocks(serverUrl(db.name))).toEqual([
        { form: 1, hi: String(running[0] >> 32n), lo: String(running[0] & 0xffffffffn), mode: 'ExclusiveLock' }, // the call
        { form: 2, hi: String(ENGINE_LOCK_CLASS), lo: String(ENGINE_LOCKS.commit), mode: 'ExclusiveLock' }, // the commit
      ]);
      expect(await engineLocks(meta)).toEqual([{ form: 2, hi: String(ENGINE_LOCK_CLASS), lo: String(ENGINE_LOCKS.engineAlive), mode: 'ShareLock' }]);
      release();
      expect((await committing).rows).toEqual([{ action: 'create', table_name: 'fake_node', id: expect.any(Number), description: 'keys' }]);
    } finally {
      release();
    }
  });

  test('a commit cut off mid-way is reported by the next begin, and rollback recovers', async () => {
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('cut1'), ('cut2')`);
    const release = hold();
    const committing = c.query(`select * from iasql_commit()`).catch((e: Error) => e);
    // The engine's connection for the commit dies (as when the engine is killed): its locks go.
    await withClient(serverUrl(db.name), async (admin) => {
      await until(async () => (await lastStatus(admin)) === 'committing' && cloud.inFlight > 0);
      await admin.query(`select pg_terminate_backend(pid) from pg_locks l where ${pgLocksMatch('commit')}`);
    });
    const cut = (await committing) as Error & { code?: string; hint?: string };
    expect(String(cut)).toMatch(/the engine running this call stopped before it finished/);
    // What to do next: the change set is half-applied, and rollback recovers it.
    expect(cut).toMatchObject({ code: 'IQ005', hint: 'the commit was cut off mid-way: SELECT * FROM iasql_rollback() recovers it' });
    release(); // the cut-off commit's cloud calls go through, as they might have in a real crash
    await until(() => cloud.inFlight === 0);
    expect(await sqlError(c, 'select * from iasql_begin()')).toMatchObject({ message: expect.stringMatching(/^change set \d+ was interrupted while committing/), hint: expect.stringContaining('iasql_rollback()') });
    const recovered = await rows('select * from iasql_rollback()');
    expect(recovered.length).toBeGreaterThan(0);
    expect(await nodes()).toEqual(cloudNodes());
    expect(await rows('select * from iasql_begin()')).toEqual([{ change_set_id: expect.any(Number), pending_changes: 0 }]);
    await rows('select * from iasql_rollback()');
  });

  test('rows that cannot be put back after a failed commit are reported, and rollback recovers', async () => {
    await change(`insert into fake_node (name) values ('dupe')`);
    cloud.fail.set('create:boom', 'ValidationException');
    await rows('select * from iasql_begin()');
    await c.query(`delete from fake_node where name = 'dupe'; insert into fake_node (name) values ('boom')`);
    const release = hold();
    const committing = c.query(`select * from iasql_commit()`).catch((e: Error) => e);
    await withClient(db.url, async (other) => {
      await until(async () => (await lastStatus(other)) === 'committing' && cloud.inFlight > 0);
      // While the commit runs, another session takes the name the failed commit must give back.
      await other.query(`insert into fake_node (name, size) values ('dupe', 7)`);
    });
    release();
    const err = (await committing) as Error & { hint?: string };
    expect(err.message).toMatch(/^iasql_commit failed: 1 of 2 operations failed; the 1 applied were reverted; the rows could NOT be put back \(duplicate key value violates unique constraint "fake_node_name_key"\): SELECT \* FROM iasql_rollback\(\) sets them to what the cloud has\n/);
    expect(err.hint).toMatch(/^SELECT \* FROM iasql_rollback\(\) first; then /);
    expect(cloud.resources.has('dupe')).toBe(true);
    expect(await lastStatus(c)).toBe('committing');
    // The same conflict stops the rollback until the newer row goes; then it recovers.
    expect((await sqlError(c, 'select * from iasql_rollback()')).message).toContain('duplicate key value violates unique constraint "fake_node_name_key"');
    await c.query(`delete from fake_node where name = 'dupe'`);
    expect((await rows('select * from iasql_rollback()')).map((r) => `${r.action} ${r.description}`)).toContain('create dupe');
    expect(await lastStatus(c)).toBe('rolled_back');
    expect(await nodes()).toEqual(cloudNodes());
    await change(`delete from fake_node where name = 'dupe'`);
  });
});

describe('a commit reports exactly what it did', () => {
  // Each test starts with no change set open, whatever the one before left.
  afterEach(async () => {
    cloud.fail.clear();
    cloud.failAfter.clear();
    await c.query('select * from iasql_rollback()').catch(() => undefined);
  });

  test('rows that reference each other (a cycle) are created empty-handed, then linked', async () => {
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('cyc_a'); insert into fake_node (name, parent) values ('cyc_b', 'cyc_a'); update fake_node set parent = 'cyc_b' where name = 'cyc_a'`);
    const [a, b] = await rows(`select id from fake_node where name in ('cyc_a', 'cyc_b') order by name`);
    const plan = [
      { action: 'create', table_name: 'fake_node', id: a.id, description: 'cyc_a' },
      { action: 'update', table_name: 'fake_node', id: a.id, description: 'cyc_a' },
      { action: 'create', table_name: 'fake_node', id: b.id, description: 'cyc_b' },
    ];
    expect(await rows('select * from iasql_preview()')).toEqual(plan);
    expect(await rows(`select * from iasql_commit('a cycle')`)).toEqual(plan);
    expect(cloud.resources.get('cyc_a')).toMatchObject({ parent: 'cyc_b' });
    expect(cloud.resources.get('cyc_b')).toMatchObject({ parent: 'cyc_a' });
    expect(await rows(`select status from iasql_change_set order by id desc limit 1`)).toEqual([{ status: 'committed' }]);
    expect(await nodes()).toEqual(cloudNodes());

    // Both go in one change set: one reference is cleared first, then each is deleted.
    const deleted = await change(`delete from fake_node where name in ('cyc_a', 'cyc_b')`);
    expect(deleted.map((r) => `${r.action} ${r.description}`)).toEqual(['delete cyc_a', 'update cyc_b', 'delete cyc_b']);
    expect(cloud.resources.has('cyc_a') || cloud.resources.has('cyc_b')).toBe(false);
  });

  test('rows that exist and are changed to reference each other are updated', async () => {
    await change(`insert into fake_node (name) values ('sw1'), ('sw2')`);
    const done = await change(`update fake_node set parent = 'sw2' where name = 'sw1'; update fake_node set parent = 'sw1' where name = 'sw2'`);
    expect(done.map((r) => `${r.action} ${r.description}`)).toEqual(['update sw1', 'update sw2']);
    expect(cloud.resources.get('sw1')).toMatchObject({ parent: 'sw2' });
    expect(cloud.resources.get('sw2')).toMatchObject({ parent: 'sw1' });
    expect(await rows(`select status from iasql_change_set order by id desc limit 1`)).toEqual([{ status: 'committed' }]);
    await change(`update fake_node set parent = null where name in ('sw1', 'sw2')`);
    await change(`delete from fake_node where name in ('sw1', 'sw2')`);
  });

  test('a cycle no order can apply is refused at preview and commit, naming its rows, and nothing changes', async () => {
    await rows('select * from iasql_begin()');
    await c.query(`begin; insert into fake_link (name, peer) values ('ring1', 'ring2'), ('ring2', 'ring1'); commit`);
    const preview = await sqlError(c, 'select * from iasql_preview()');
    expect(preview.message).toMatch(/^the change set cannot be applied in any order: these rows wait for each other/);
    expect(preview.message).toMatch(/create fake_link ring1 \(row \d+\)/);
    expect(preview.message).toMatch(/create fake_link ring2 \(row \d+\)/);
    expect(preview.hint).toContain('leave one of the references empty');
    const commit = await sqlError(c, `select * from iasql_commit()`);
    expect(commit.message).toBe(preview.message);
    expect(cloud.links.size).toBe(0);
    expect(cloud.calls).toEqual([]);
    // The change set stays open as it was: the rows can be fixed, or rolled back.
    expect(await rows(`select status from iasql_change_set order by id desc limit 1`)).toEqual([{ status: 'open' }]);
    expect((await rows('select * from iasql_rollback()')).map((r) => `${r.action} ${r.description}`).sort()).toEqual(['delete ring1', 'delete ring2']);
    expect(await rows('select * from fake_link')).toEqual([]);
  });

  test('an operation that fails after its first call went through is reverted, and the error says so', async () => {
    cloud.failAfter.set('create:half', 'LimitExceeded');
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('half')`);
    const err = await sqlError(c, `select * from iasql_commit()`);
    expect(err.message).toMatch(/^iasql_commit failed: 1 of 1 operation failed; 1 partly applied were reverted; the rows are back as they were\n/);
    expect(err.message).toContain('create fake_node half: LimitExceeded: create of half: the second call was refused by the fake cloud (it had made part of the change: reverted)');
    expect(err.message).not.toContain('nothing had been applied');
    expect(cloud.resources.has('half')).toBe(false);
    expect(await rows(`select * from fake_node where name = 'half'`)).toEqual([]);
  });

  test('a part-way change whose undo fails is listed as still in the cloud', async () => {
    cloud.failAfter.set('create:stuck', 'ValidationException');
    cloud.fail.set('delete:stuck', 'AccessDeniedException');
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('stuck')`);
    const err = await sqlError(c, `select * from iasql_commit()`);
    expect(err.message).toMatch(/^iasql_commit failed: 1 of 1 operation failed; 1 partly applied were reverted except 1; the rows are back as they were/);
    expect(err.message).toContain('create fake_node stuck: ValidationException: create of stuck: the second call was refused by the fake cloud (it had made part of the change: see below)');
    expect(err.message).toMatch(/still in the cloud \(the revert failed; fix by hand or iasql_sync\(\)\):\n  create fake_node stuck: AccessDeniedException: delete of stuck refused/);
    expect(cloud.resources.has('stuck')).toBe(true);
    cloud.fail.clear();
    await rows('select * from iasql_sync()');
    expect(await nodes()).toEqual(cloudNodes());
    await change(`delete from fake_node where name = 'stuck'`);
  });

  test('a revert is read back: one the cloud did not carry out is listed as still in the cloud', async () => {
    cloud.fail.set('create:refused', 'ValidationException');
    cloud.ignore.add('delete:kept');
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('kept'); insert into fake_node (name, parent) values ('refused', 'kept')`);
    const err = await sqlError(c, `select * from iasql_commit()`);
    expect(err.message).toMatch(/^iasql_commit failed: 1 of 2 operations failed; the 1 applied were reverted except 1;/);
    expect(err.message).toMatch(/still in the cloud \(the revert failed; fix by hand or iasql_sync\(\)\):\n  create fake_node kept: RevertIncomplete: reverted, but the cloud still shows a resource/);
    expect(cloud.resources.has('kept')).toBe(true);
    cloud.ignore.clear();
    await rows('select * from iasql_sync()');
    await change(`delete from fake_node where name = 'kept'`);
  });

  test('operations that never started make the commit fail, and are named', async () => {
    cloud.fail.set('create:root', 'ValidationException');
    await rows('select * from iasql_begin()');
    await c.query(`insert into fake_node (name) values ('root'); insert into fake_node (name, parent) values ('leaf', 'root')`);
    const err = await sqlError(c, `select * from iasql_commit()`);
    expect(err.message).toMatch(/^iasql_commit failed: 1 of 2 operations failed, 1 did not start; nothing had been applied/);
    expect(err.message).toContain('not started (they waited for a failed one):\n  create fake_node leaf');
    expect(await rows(`select result->'notStarted' as n from iasql_change_set order by id desc limit 1`)).toEqual([{ n: ['create fake_node leaf'] }]);
  });

  test('replacing a parent waits for the delete of its child in the same change set', async () => {
    await change(`insert into fake_node (name) values ('dad'); insert into fake_node (name, parent) values ('kid', 'dad')`);
    cloud.delayMs = 20;
    const done = await change(`delete from fake_node where name = 'kid'; update fake_node set kind = 'special' where name = 'dad'`);
    expect(done.map((r) => `${r.action} ${r.description}`)).toEqual(['replace dad', 'delete kid']);
    const first = (op: string, n: string) => cloud.calls.find((x) => x.op === op && x.name === n)!;
    expect(first('delete', 'kid').end).toBeLessThanOrEqual(first('delete', 'dad').start);
    expect(cloud.resources.get('dad')).toMatchObject({ kind: 'special' });
    expect(cloud.resources.has('kid')).toBe(false);
    cloud.delayMs = 0;
    await change(`delete from fake_node where name = 'dad'`);
  });
});

describe('long commits are not silent', () => {
  test('the caller gets progress NOTICEs; the REST API shows the current and recent commits', async () => {
    cloud.delayMs = 450;
    const notices: string[] = [];
    const onNotice = (n: { message?: string }) => notices.push(String(n.message));
    c.on('notice', onNotice);
    await rows('select * from iasql_begin()');
    // A chain of five: each waits for the one before, about 2.3 s in all.
    await c.query(`insert into fake_node (name, parent) values ('p1', null), ('p2', 'p1'), ('p3', 'p2'), ('p4', 'p3'), ('p5', 'p4')`);
    const committing = c.query(`select * from iasql_commit('a chain')`);
    let seen: any;
    for (let i = 0; i < 200; i++) {
      const res = await engine.api('GET', `/v1/databases/${db.name}/commits`);
      seen = res.body.commits[0];
      if (seen.status === 'committing' && seen.progress?.running?.length) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen).toMatchObject({ status: 'committing', message: 'a chain', progress: { total: 5, applied: expect.any(Number), running: [expect.stringMatching(/^create fake_node p\d$/)] } });
    expect((await committing).rows).toHaveLength(5);
    c.off('notice', onNotice);
    // The commit took over 2 s (five 450 ms steps in a chain): at least one 1.5 s slice passed.
    expect(notices.length).toBeGreaterThanOrEqual(1);
    // A NOTICE only when the progress changed.
    expect(notices.filter((n, i) => i > 0 && n === notices[i - 1])).toEqual([]);
    expect(notices[0]).toMatch(/^iasql_commit: [0-4]\/5 applied; running: create fake_node p\d$/);
    const after = (await engine.api('GET', `/v1/databases/${db.name}/commits`)).body.commits;
    expect(after[0]).toMatchObject({ status: 'committed', message: 'a chain', closedAt: expect.any(String), progress: { total: 5, applied: 5, running: [] } });
    expect(after[0].result).toHaveLength(5);
    expect(after.some((x: { status: string }) => x.status === 'failed')).toBe(true);
    expect((await engine.api('GET', `/v1/databases/nope_${Date.now()}/commits`)).status).toBe(404);
    cloud.delayMs = 0;
    await change(`delete from fake_node where name like 'p_'`);
  });
});

describe('audit log', () => {
  test('tenants read it and cannot write it; user changes replay on a fresh database', async () => {
    expect(await sqlError(c, `insert into iasql_audit_log (table_name, change_type) values ('x', 'INSERT')`)).toMatchObject({ code: '42501' });
    expect(await sqlError(c, `delete from iasql_audit_log`)).toMatchObject({ code: '42501' });
    expect(await sqlError(c, `update iasql_change_set set status = 'committed'`)).toMatchObject({ code: '42501' });
    const since = (await rows('select now() as t'))[0].t;
    await change(`insert into fake_node (name, size) values ('replay1', 4); update fake_node set size = 6 where name = 'replay1'; insert into fake_node (name, parent) values ('replay2', 'replay1')`);
    const sql = (await rows('select sql from iasql_get_sql_since($1)', [since])).map((r) => r.sql);
    expect(sql).toHaveLength(3);
    expect(sql[0]).toMatch(/^INSERT INTO "fake_node" \("kind", "name", "size", "parent", "cloud_id"\) SELECT/);
    const fresh = await newDatabase(engine, 'replay');
    expect((await install(engine, fresh.name, ['fixture_fakecloud'])).status).toBe(200);
    await withClient(fresh.url, async (f) => {
      await f.query(`delete from fake_node`); // the import brought the shared fake cloud's nodes
      for (const s of sql) await f.query(s);
      expect((await f.query(`select name, size, parent from fake_node order by name`)).rows).toEqual([
        { name: 'replay1', size: 6, parent: null },
        { name: 'replay2', size: 1, parent: 'replay1' },
      ]);
    });
    const tx = (await rows(`select transaction_id from iasql_audit_log where source = 'user' and table_name = 'fake_node' order by id desc limit 1`))[0].transaction_id;
    expect((await rows('select sql from iasql_get_sql_for_transaction($1)', [tx])).length).toBeGreaterThanOrEqual(1);
  });
});
