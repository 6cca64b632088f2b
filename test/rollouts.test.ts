import { serverUrl, startTestEngine, stopTestEngine, TestEngine, withClient } from './support/engine';
import { install, startModuleEngine } from './support/modules';

/** Polls GET /v1/rollouts/:id until it is no longer running (bounded). */
async function finished(engine: TestEngine, id: string) {
  for (let i = 0; i < 300; i++) {
    const res = await engine.api('GET', `/v1/rollouts/${id}`);
    if (res.body.status !== 'running') return res.body;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`rollout ${id} still running after 6 s`);
}

const version = (db: string) =>
  withClient(serverUrl(db), async (c) => (await c.query(`select version from iasql_module where name = 'fixture_notes'`)).rows[0].version);

/**
 * Three databases on fixture_notes 0.2.0; the middle one (by name) holds a blank note, which
 * 0.3.0's new check constraint refuses, so its upgrade fails.
 */
async function threeDatabases(engine: TestEngine, tag: string) {
  const names = ['a', 'b', 'c'].map((x) => `ro_${tag}_${x}`);
  for (const name of names) {
    const created = await engine.api('POST', '/v1/databases', { name });
    await install(engine, name, ['fixture_notes@0.2.0']);
    await withClient(created.body.connectionString, (c) => c.query(`insert into note (content) values ('ok')${name.endsWith('_b') ? ", ('')" : ''}`));
  }
  return names;
}

describe('a rollout the engine was running when it died', () => {
  test('is marked interrupted at the next start, with the databases it had not finished', async () => {
    const first = await startModuleEngine();
    const id = '11111111-2222-4333-8444-555555555555';
    await withClient(serverUrl(first.config.metadataDatabase), (c) =>
      c.query(
        `insert into rollout (id, strategy, status, databases) values ($1, 'one-at-a-time', 'running', $2)`,
        [id, JSON.stringify([
          { name: 'x', status: 'upgraded', changes: ['m 0.1.0 -> 0.2.0'], error: null, startedAt: null, finishedAt: null },
          { name: 'y', status: 'upgrading', changes: [], error: null, startedAt: null, finishedAt: null },
          { name: 'z', status: 'pending', changes: [], error: null, startedAt: null, finishedAt: null },
        ])],
      ),
    );
    await first.stop();
    const engine = await startTestEngine({ metadataDatabase: first.config.metadataDatabase, home: first.config.home, modulePath: first.config.modulePath });
    try {
      const res = await engine.api('GET', `/v1/rollouts/${id}`);
      expect(res.body.status).toBe('interrupted');
      expect(res.body.finishedAt).not.toBeNull();
      expect(res.body.databases.map((d: { status: string }) => d.status)).toEqual(['upgraded', 'interrupted', 'interrupted']);
    } finally {
      await stopTestEngine(engine);
    }
  });
});

describe('rollouts', () => {
  let engine: TestEngine;
  beforeEach(async () => {
    engine = await startModuleEngine();
  });
  afterEach(() => stopTestEngine(engine));

  test('all-at-once upgrades every database it can and reports the one that failed', async () => {
    const [a, b, c] = await threeDatabases(engine, 'all');
    const started = await engine.api('POST', '/v1/rollouts', { strategy: 'all-at-once' });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ strategy: 'all-at-once', status: 'running' });
    expect(started.body.databases.map((d: { name: string; status: string }) => [d.name, d.status])).toEqual([
      [a, 'pending'],
      [b, 'pending'],
      [c, 'pending'],
    ]);
    const done = await finished(engine, started.body.id);
    expect(done.status).toBe('failed');
    expect(done.databases).toEqual([
      expect.objectContaining({ name: a, status: 'upgraded', changes: ['fixture_notes 0.2.0 -> 0.3.0'], error: null }),
      expect.objectContaining({
        name: b,
        status: 'failed',
        changes: [],
        error: expect.stringMatching(/^module fixture_notes@0\.3\.0: 0\.3\.0\/up\.sql line 2 failed: check constraint "note_content_not_blank" of relation "note" is violated by some row/),
      }),
      expect.objectContaining({ name: c, status: 'upgraded', changes: ['fixture_notes 0.2.0 -> 0.3.0'], error: null }),
    ]);
    expect([await version(a), await version(b), await version(c)]).toEqual(['0.3.0', '0.2.0', '0.3.0']);
  });

  test('one-at-a-time stops at the first failure and leaves the rest untouched', async () => {
    const [a, b, c] = await threeDatabases(engine, 'one');
    const started = await engine.api('POST', '/v1/rollouts', { strategy: 'one-at-a-time' });
    const done = await finished(engine, started.body.id);
    expect(done.status).toBe('failed');
    expect(done.databases.map((d: { name: string; status: string }) => [d.name, d.status])).toEqual([
      [a, 'upgraded'],
      [b, 'failed'],
      [c, 'skipped'],
    ]);
    expect(done.databases[2]).toEqual({ name: c, status: 'skipped', changes: [], error: null, startedAt: null, finishedAt: null });
    expect([await version(a), await version(b), await version(c)]).toEqual(['0.3.0', '0.2.0', '0.2.0']);
    // The failed database still works on its old version.
    await withClient(serverUrl(b), (cl) => cl.query(`insert into note (content) values ('still fine')`));
  });

  test('once the bad row is fixed, a new rollout finishes the job; the list shows both', async () => {
    const [, b] = await threeDatabases(engine, 'fix');
    const first = await finished(engine, (await engine.api('POST', '/v1/rollouts', { strategy: 'one-at-a-time' })).body.id);
    expect(first.status).toBe('failed');
    await withClient(serverUrl(b), (c) => c.query(`update note set content = 'no longer blank' where content = ''`));
    const second = await finished(engine, (await engine.api('POST', '/v1/rollouts', { strategy: 'one-at-a-time' })).body.id);
    expect(second.status).toBe('succeeded');
    expect(second.databases.map((d: { status: string }) => d.status)).toEqual(['upgraded', 'upgraded', 'upgraded']);
    // The one already upgraded has nothing left to change.
    expect(second.databases[0].changes).toEqual([]);
    const list = await engine.api('GET', '/v1/rollouts');
    expect(list.body.rollouts.map((r: { id: string }) => r.id)).toEqual([second.id, first.id]);
  });

  test('one-at-a-time checks health after each upgrade and stops on an unhealthy database', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((x) => `ro_sick_${x}`);
    for (const name of [a, b, c]) {
      await engine.api('POST', '/v1/databases', { name });
      await install(engine, name, ['fixture_notes@0.2.0']);
    }
    // Damage a's platform registry behind the engine's back (as the admin: the tenant cannot write
    // it): its upgrade works, its health check does not.
    await withClient(serverUrl(a), (cl) => cl.query(`insert into iasql_engine.iasql_tables (table_name, module) values ('ghost', 'iasql_platform')`));
    const done = await finished(engine, (await engine.api('POST', '/v1/rollouts', { strategy: 'one-at-a-time' })).body.id);
    expect(done.databases.map((d: { name: string; status: string }) => [d.name, d.status])).toEqual([
      [a, 'failed'],
      [b, 'skipped'],
      [c, 'skipped'],
    ]);
    expect(done.databases[0].error).toBe(
      'upgraded but unhealthy: table ghost: relation "public.ghost" does not exist',
    );
    expect([await version(b), await version(c)]).toEqual(['0.2.0', '0.2.0']);
  });

  test('bad requests are clear', async () => {
    expect(await engine.api('POST', '/v1/rollouts', { strategy: 'yolo' })).toEqual({
      status: 400,
      body: { error: { code: 'bad_request', message: 'strategy: strategy must be one of "all-at-once", "one-at-a-time"' } },
    });
    expect((await engine.api('GET', '/v1/rollouts/not-a-uuid')).body.error.message).toBe("invalid rollout id 'not-a-uuid': a rollout id is a UUID");
    const missing = await engine.api('GET', '/v1/rollouts/00000000-0000-4000-8000-000000000000');
    expect(missing).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: "rollout '00000000-0000-4000-8000-000000000000' does not exist; GET /v1/rollouts lists them" } },
    });
  });
});
