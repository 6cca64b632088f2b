import * as fs from 'node:fs';
import { Client } from 'pg';
import { lockArgs } from '../src/postgres/lock-keys';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, withClient } from './support/engine';
import { FIXTURE_MODULES, install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';
import { waitFor } from './support/wait';

const calls = (meta: string, method: string) =>
  withClient(serverUrl(meta), async (m) => (await m.query(`select status, error, created_at < now() - interval '1.5 seconds' as old from rpc_call where method = $1 order by id`, [method])).rows);

describe('no engine takes calls (the only engine runs no worker)', () => {
  let engine: TestEngine;
  let c: Client;
  beforeAll(async () => {
    engine = await startTestEngine({ modulePath: [FIXTURE_MODULES], workerConcurrency: 0 });
    const db = await newDatabase(engine, 'noengine');
    c = await connect(db.url);
  });
  afterAll(async () => {
    await c.end();
    await stopTestEngine(engine);
  });

  test('a call fails with IQ008 and what to do, long before its timeout; it never runs later', async () => {
    await c.query('set iasql.rpc_timeout_ms = 60000');
    expect(await sqlError(c, 'select iasql_version()')).toEqual({
      code: 'IQ008',
      message: 'rpc iasql_functions.iasql_version: no iasql engine is running',
      detail: undefined,
      hint: 'start it (iasql start), then call again; this call will not run',
    });
    expect(await calls(engine.config.metadataDatabase, 'iasql_version')).toEqual([expect.objectContaining({ status: 'failed', error: expect.objectContaining({ sqlstate: 'IQ008' }) })]);
  });
});

describe('a call made while the engine restarts', () => {
  test('waits for it (a starting engine counts as running) and runs once', async () => {
    const first = await startModuleEngine();
    const meta = first.config.metadataDatabase;
    const db = await newDatabase(first, 'restart');
    await install(first, db.name, ['fixture_rpc']);
    await first.stop();
    // The next engine's start is held just after it says it is alive (at its metadata migrations).
    const gate = new Client({ connectionString: serverUrl(meta) });
    await gate.connect();
    await gate.query(`select pg_advisory_lock(${lockArgs('metadataMigrations')})`);
    let gateOpen = false;
    const second = startTestEngine({ metadataDatabase: meta, modulePath: [FIXTURE_MODULES] });
    const c = await connect(db.url);
    try {
      await waitFor('the starting engine to wait at its migrations', async () =>
        (await withClient(serverUrl(meta), (m) => m.query(`select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = $1`, [meta]))).rowCount ? true : undefined,
      );
      await c.query('set iasql.rpc_timeout_ms = 60000');
      const pending = c.query(`select rpc_count('restart') as n`);
      // Queued longer than the no-engine check allows, and not failed: an engine is starting.
      await waitFor('a call queued for 1.5 s', async () => ((await calls(meta, 'rpc_count'))[0]?.old ? true : undefined));
      expect((await calls(meta, 'rpc_count')).map((r) => r.status)).toEqual(['queued']);
      await gate.end();
      gateOpen = true;
      expect((await pending).rows).toEqual([{ n: 1 }]);
      expect((await calls(meta, 'rpc_count')).map((r) => r.status)).toEqual(['succeeded']);
      await withClient(db.url, async (t) => expect((await t.query(`select count(*)::int as n from rpc_counter where tag = 'restart'`)).rows).toEqual([{ n: 1 }]));
    } finally {
      await c.end();
      if (!gateOpen) await gate.end();
      await stopTestEngine(await second);
      fs.rmSync(first.config.home, { recursive: true, force: true });
    }
  });
});
