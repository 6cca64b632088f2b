import { Client } from 'pg';
import { databaseNameLockArgs } from '../src/postgres/lock-keys';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, uniq, withClient } from './support/engine';

// What a killed engine leaves mid-create: a registry row in 'creating', a role, maybe a database.
async function leaveHalfCreated(engine: TestEngine, name: string, role: string) {
  await withClient(serverUrl(engine.config.metadataDatabase), (c) =>
    c.query(`insert into managed_database (name, role_name, status, engine_version) values ($1, $2, 'creating', '0.1.0')`, [name, role]),
  );
  await withClient(serverUrl(), async (c) => {
    await c.query(`create role ${role} login`);
    await c.query(`create database ${name} owner ${role}`);
  });
}

const exists = (name: string, role: string) =>
  withClient(serverUrl(), async (c) => ({
    database: (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1,
    role: (await c.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1,
  }));

describe('recovery from an engine killed mid-create', () => {
  let engine: TestEngine | undefined;
  afterEach(async () => {
    await stopTestEngine(engine);
    engine = undefined;
  });

  test('the next start removes the half-created database, its role and its record', async () => {
    const first = await startTestEngine();
    const name = `half_${uniq()}`;
    const role = `iasql_${uniq()}0000`;
    await leaveHalfCreated(first, name, role);
    expect((await first.api('GET', `/v1/databases/${name}`)).body.status).toBe('creating');
    expect((await first.api('DELETE', `/v1/databases/${name}`)).body.error.message).toBe(
      `database '${name}' is still being created; try again in a moment`,
    );
    await first.stop();

    engine = await startTestEngine({ metadataDatabase: first.config.metadataDatabase, home: first.config.home });
    expect(await exists(name, role)).toEqual({ database: false, role: false });
    expect((await engine.api('GET', `/v1/databases/${name}`)).status).toBe(404);
    expect(engine.logs()).toContain('removed databases left half-created or half-dropped by an earlier run');
    expect((await engine.api('POST', '/v1/databases', { name })).status).toBe(201);
  });

  test('work another engine is still doing (it holds the lock) is left alone', async () => {
    const first = await startTestEngine();
    const name = `busy_${uniq()}`;
    const role = `iasql_${uniq()}0000`;
    await leaveHalfCreated(first, name, role);
    await first.stop();
    const other = new Client({ connectionString: serverUrl(first.config.metadataDatabase) });
    await other.connect();
    await other.query(`select pg_advisory_lock(${databaseNameLockArgs('$1')})`, [name]);
    try {
      engine = await startTestEngine({ metadataDatabase: first.config.metadataDatabase, home: first.config.home });
      expect(await exists(name, role)).toEqual({ database: true, role: true });
      expect((await engine.api('GET', `/v1/databases/${name}`)).body.status).toBe('creating');
    } finally {
      await other.end();
    }
    await withClient(serverUrl(), async (c) => {
      await c.query(`drop database ${name}`);
      await c.query(`drop role ${role}`);
    });
  });
});
