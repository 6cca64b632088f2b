import { serverUrl, startTestEngine, stopTestEngine, TestEngine, tryConnect, uniq, withClient, withDatabase } from './support/engine';

let engine: TestEngine;
let a: { name: string; user: string; connectionString: string };
let b: { name: string; user: string; connectionString: string };

beforeAll(async () => {
  engine = await startTestEngine();
  const suffix = uniq();
  a = (await engine.api('POST', '/v1/databases', { name: `tenant_a_${suffix}` })).body;
  b = (await engine.api('POST', '/v1/databases', { name: `tenant_b_${suffix}` })).body;
});
afterAll(() => stopTestEngine(engine));

describe('tenant isolation', () => {
  test('each tenant role connects to its own database', async () => {
    expect(await tryConnect(a.connectionString)).toBe('connected');
    expect(await tryConnect(b.connectionString)).toBe('connected');
  });

  test("a tenant role cannot connect to another tenant's database", async () => {
    expect(await tryConnect(withDatabase(a.connectionString, b.name))).toBe(
      `permission denied for database "${b.name}"`,
    );
    expect(await tryConnect(withDatabase(b.connectionString, a.name))).toBe(
      `permission denied for database "${a.name}"`,
    );
  });

  test('a tenant role cannot connect to the metadata database', async () => {
    expect(await tryConnect(withDatabase(a.connectionString, engine.config.metadataDatabase))).toBe(
      `permission denied for database "${engine.config.metadataDatabase}"`,
    );
  });

  test('a tenant role is no superuser and cannot create roles or databases', async () => {
    const attrs = await withClient(serverUrl(), (c) =>
      c.query('select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls from pg_roles where rolname = $1', [a.user]),
    );
    expect(attrs.rows).toEqual([{ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false }]);
    await withClient(a.connectionString, async (c) => {
      await expect(c.query('create role sneaky login')).rejects.toThrow('permission denied to create role');
      await expect(c.query('create database sneaky')).rejects.toThrow('permission denied to create database');
    });
  });

  test("a tenant role cannot use the engine's internal schema (dblink)", async () => {
    await withClient(a.connectionString, async (c) => {
      await expect(c.query('select * from iasql_internal.engine_migration')).rejects.toThrow('permission denied for schema iasql_internal');
      await expect(c.query(`select iasql_internal.dblink_connect('x', 'dbname=postgres')`)).rejects.toThrow(
        'permission denied for schema iasql_internal',
      );
    });
  });

  test("a tenant cannot see another tenant's tables even by name", async () => {
    await withClient(b.connectionString, (c) => c.query('create table secret_b (v text); insert into secret_b values ($$b$$)'));
    await withClient(a.connectionString, async (c) => {
      await expect(c.query('select * from secret_b')).rejects.toThrow('relation "secret_b" does not exist');
    });
  });
});
