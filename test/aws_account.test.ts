import { Client } from 'pg';
import { serverUrl, stopTestEngine, TestEngine, withClient } from './support/engine';
import { install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';

// aws_account: credentials whose secret key nobody reads back, regions and the default region.
const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCY-SECRET-0042';
let engine: TestEngine;
let db: { name: string; url: string };
let c: Client;

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'account');
  expect((await install(engine, db.name, ['aws_account'])).status).toBe(200);
  c = await connect(db.url);
});
afterAll(async () => {
  await c?.end();
  await stopTestEngine(engine);
});

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;

describe('regions', () => {
  test('every region is listed and enabled, us-east-1 the default; default_aws_region(text) moves it', async () => {
    expect((await rows('select count(*)::int as n from aws_regions where is_enabled'))[0].n).toBeGreaterThanOrEqual(17);
    expect(await rows('select default_aws_region() as r')).toEqual([{ r: 'us-east-1' }]);
    expect(await rows(`select default_aws_region('eu-west-1') as r`)).toEqual([{ r: 'eu-west-1' }]);
    expect(await rows('select region from aws_regions where is_default')).toEqual([{ region: 'eu-west-1' }]);
    expect(await sqlError(c, `select default_aws_region('mars-1')`)).toMatchObject({ message: "unknown region 'mars-1'", hint: 'SELECT region FROM aws_regions lists them' });
    await c.query(`update aws_regions set is_default = true where region = 'us-east-1'`);
    expect(await rows('select region from aws_regions where is_default')).toEqual([{ region: 'us-east-1' }]);
  });
});

describe('the secret key', () => {
  test('is in no result, audit row, replayed SQL, error or log line', async () => {
    await c.query('delete from aws_credentials'); // the local cloud's throw-away key, put there on install
    await c.query(`insert into aws_credentials (access_key_id, secret_access_key) values ('AKIAEXAMPLE', $1)`, [SECRET]);
    expect(await rows('select access_key_id, secret_access_key from aws_credentials')).toEqual([{ access_key_id: 'AKIAEXAMPLE', secret_access_key: '********' }]);
    // Stored where the engine reads it and the tenant cannot.
    const stored = await withClient(serverUrl(db.name), (a) => a.query('select secret_access_key from aws_account_secret.secret_key'));
    expect(stored.rows).toEqual([{ secret_access_key: SECRET }]);
    expect(await sqlError(c, 'select * from aws_account_secret.secret_key')).toMatchObject({ code: '42501' });
    // A new key replaces it; '********' written back keeps it.
    await c.query(`update aws_credentials set secret_access_key = '********', access_key_id = 'AKIAOTHER'`);
    expect((await withClient(serverUrl(db.name), (a) => a.query('select secret_access_key from aws_account_secret.secret_key'))).rows).toEqual([{ secret_access_key: SECRET }]);
    expect(await sqlError(c, `insert into aws_credentials (access_key_id, secret_access_key) values ('AKIA2', '')`)).toMatchObject({ message: 'aws_credentials.secret_access_key is required' });

    const everywhere = [
      JSON.stringify(await rows('select * from iasql_audit_log')),
      JSON.stringify(await rows('select * from iasql_get_sql_since()')),
      JSON.stringify(await rows('select * from iasql_rpc')),
      JSON.stringify(await rows('select * from aws_credentials')),
      engine.logs(),
    ];
    for (const text of everywhere) expect(text).not.toContain(SECRET);
    expect(everywhere[0]).toContain('AKIAEXAMPLE'); // the audit log did see the row
    await c.query('delete from aws_credentials');
    expect((await withClient(serverUrl(db.name), (a) => a.query('select count(*)::int as n from aws_account_secret.secret_key'))).rows).toEqual([{ n: 0 }]);
  });

  test('tenants cannot write the platform tables', async () => {
    for (const sql of [
      `insert into iasql_audit_log (table_name, change_type) values ('x', 'INSERT')`,
      `update iasql_change_set set status = 'open'`,
      `delete from iasql_module`,
      `insert into iasql_rpc (opid, module_name, method_name, params, caller, start_date) values ('x', 'm', 'f', '{}', 'x', now())`,
    ]) {
      expect(await sqlError(c, sql)).toMatchObject({ code: '42501' });
    }
  });
});
