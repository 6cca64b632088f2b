import { Client } from 'pg';
import { AWS_REGIONS } from '../src/localcloud/regions';
import { serverUrl, stopTestEngine, TestEngine, withClient } from './support/engine';
import { install, newDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';

// aws_account: credentials whose secret key nobody reads back, regions and the default region.
const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCY-SECRET-0042';
let engine: TestEngine;
let db: { name: string; url: string };
let c: Client;

beforeAll(async () => {
  engine = await startModuleEngine({ allowedEndpoints: ['http://localhost:9999', 'https://*.example.test'] });
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

describe('only real regions', () => {
  test.each([['mars-1'], ['us-east-1 '], ['US-EAST-1'], ['x'.repeat(60)]])('%s is refused when written, saying what to do', async (region) => {
    expect(await sqlError(c, 'insert into aws_regions (region) values ($1)', [region])).toMatchObject({
      code: '23514',
      message: `aws_regions.region '${region}' is not an AWS region`,
      hint: 'SELECT region FROM aws_regions lists the regions; enable one with UPDATE aws_regions SET is_enabled = true WHERE region = ...',
    });
    expect(await rows('select count(*)::int as n from aws_regions where region = $1', [region])).toEqual([{ n: 0 }]);
  });

  test('aws_regions accepts exactly the regions the local cloud serves', async () => {
    const listed = (await rows('select region from aws_regions')).map((r) => r.region as string);
    const added = AWS_REGIONS.filter((r) => !listed.includes(r));
    for (const region of added) await c.query('insert into aws_regions (region, is_enabled) values ($1, false)', [region]);
    expect((await rows('select region from aws_regions order by region')).map((r) => r.region)).toEqual([...AWS_REGIONS].sort());
    await c.query('delete from aws_regions where region = any($1)', [added]);
  });

  test('a real region missing from the list can be added', async () => {
    await c.query(`insert into aws_regions (region, is_enabled) values ('ap-east-2', false)`);
    expect(await rows(`select region, is_enabled from aws_regions where region = 'ap-east-2'`)).toEqual([{ region: 'ap-east-2', is_enabled: false }]);
    await c.query(`delete from aws_regions where region = 'ap-east-2'`);
  });
});

describe('endpoints are the operator\'s choice', () => {
  const hint = (local: string) =>
    `use NULL for AWS, or one of: https://*.amazonaws.com, https://*.amazonaws.com.cn, https://*.api.aws, ${local}, http://localhost:9999, https://*.example.test; the operator of the engine can allow others with IASQL_ALLOWED_ENDPOINTS`;

  // The engine sends signed requests to the endpoint and returns what it answers: anything on the
  // engine's host or network (Postgres, the REST API, a metadata service) would be reachable.
  test.each([
    ['a port on the engine host', 'http://127.0.0.1:5432/'],
    ['the cloud metadata service', 'http://169.254.169.254/'],
    ['an allowed host on another port', 'http://localhost:9998'],
    ['a look-alike of AWS', 'https://dynamodb.us-east-1.amazonaws.com.evil.test'],
    ['credentials in the URL', 'http://user:pw@localhost:9999'],
    ['a path', 'http://localhost:9999/x'],
    ['not a URL', 'localhost:9999'],
  ])('%s is refused when written, with who can allow it', async (_what, endpoint) => {
    const before = await rows('select endpoint from aws_credentials order by id');
    const err = await sqlError(c, 'update aws_credentials set endpoint = $1', [endpoint]);
    expect(err).toMatchObject({ code: '23514', message: `aws_credentials.endpoint '${endpoint}' is not an endpoint this engine allows`, hint: hint(engine.localCloud!.endpoint) });
    expect(await rows('select endpoint from aws_credentials order by id')).toEqual(before);
  });

  test.each([
    ['AWS (no override)', null],
    ["an AWS service's own endpoint", 'https://dynamodb.eu-west-1.amazonaws.com'],
    ['an origin the operator allows', 'http://localhost:9999'],
    ['a subdomain of an allowed wildcard', 'https://api.example.test/'],
  ])('%s is accepted', async (_what, endpoint) => {
    const [{ endpoint: was }] = await rows('select endpoint from aws_credentials order by id limit 1');
    await c.query('update aws_credentials set endpoint = $1', [endpoint]);
    expect(await rows('select endpoint from aws_credentials')).toEqual([{ endpoint }]);
    await c.query('update aws_credentials set endpoint = $1', [was]);
  });

  test('an endpoint written before the operator narrowed the list is refused where it is used', async () => {
    expect((await install(engine, db.name, ['aws_dynamo'])).status).toBe(200);
    // As the admin, past the write-time check (what an older list allowed).
    await withClient(serverUrl(db.name), (a) => a.query(`alter table aws_credentials disable trigger aws_credentials_keep_secret; update aws_credentials set endpoint = 'http://127.0.0.1:5432'; alter table aws_credentials enable trigger aws_credentials_keep_secret`));
    try {
      const err = await sqlError(c, `select * from dynamo_scan('orders')`);
      expect(err.message).toContain(`aws_credentials.endpoint 'http://127.0.0.1:5432' is not an endpoint this engine allows`);
      expect(err.message).toContain('IASQL_ALLOWED_ENDPOINTS');
    } finally {
      await withClient(serverUrl(db.name), (a) => a.query(`update aws_credentials set endpoint = $1`, [engine.localCloud!.endpoint]));
      expect((await engine.api('POST', `/v1/databases/${db.name}/modules`, { uninstall: ['aws_dynamo'] })).status).toBe(200);
    }
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
