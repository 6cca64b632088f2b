import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { Client } from 'pg';
import { stopTestEngine, TestEngine } from './support/engine';
import { install, newDatabase, NewDatabase, startModuleEngine, uninstall } from './support/modules';
import { dynamoClientAt } from './support/localcloud';
import { connect, sqlError } from './support/sql';

// aws_dynamo end to end: SQL in, DynamoDB tables out, checked through the real AWS SDK against the
// engine's local cloud (dynalite, regional as AWS is). No AWS account anywhere.
let engine: TestEngine;
let db: NewDatabase;
let c: Client;
// The database's own local-cloud account: what iasql manages there is visible to it, and only to it.
const sdk = (region = 'us-east-1') => dynamoClientAt(engine.localCloud!.endpoint, region, db.cloud);
const describe_ = async (name: string, region = 'us-east-1') => (await sdk(region).send(new DescribeTableCommand({ TableName: name }))).Table!;
const tablesIn = async (region: string) => (await sdk(region).send(new ListTablesCommand({}))).TableNames ?? [];

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'dynamo');
  c = await connect(db.url);
});
afterAll(async () => {
  await c?.end();
  await stopTestEngine(engine);
});

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
async function change(sql: string, message = 'test') {
  await rows('select * from iasql_begin()');
  await c.query(sql);
  return rows('select * from iasql_commit($1)', [message]);
}

describe('the walk-through, as pasted', () => {
  test('install pulls in aws_account pointed at the local cloud; insert, preview, commit; the cloud has it', async () => {
    expect(await rows(`select * from iasql_install('aws_dynamo')`)).toEqual([
      { module_name: 'aws_account', created_table_name: 'aws_credentials', record_count: 1 },
      { module_name: 'aws_account', created_table_name: 'aws_regions', record_count: expect.any(Number) },
      { module_name: 'aws_dynamo', created_table_name: 'dynamo_table', record_count: 0 },
    ]);
    expect(await rows('select access_key_id, secret_access_key, endpoint from aws_credentials')).toEqual([
      { access_key_id: db.cloud!.accessKeyId, secret_access_key: '********', endpoint: engine.localCloud!.endpoint },
    ]);
    await rows('select * from iasql_begin()');
    await c.query(`INSERT INTO dynamo_table (table_name, table_class, throughput, primary_key)
                   VALUES ('orders', 'STANDARD', '"PAY_PER_REQUEST"', '{"id": "S", "ts": "N"}')`);
    const id = (await rows(`select id from dynamo_table where table_name = 'orders'`))[0].id;
    expect(await rows('select * from iasql_preview()')).toEqual([{ action: 'create', table_name: 'dynamo_table', id, description: 'orders|us-east-1' }]);
    expect(await rows(`select * from iasql_commit('create orders table')`)).toEqual([{ action: 'create', table_name: 'dynamo_table', id, description: 'orders|us-east-1' }]);
    const t = await describe_('orders');
    expect(t).toMatchObject({
      TableName: 'orders',
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
      KeySchema: [
        { AttributeName: 'id', KeyType: 'HASH' },
        { AttributeName: 'ts', KeyType: 'RANGE' },
      ],
    });
    expect(await rows('select table_id, created_at from dynamo_table')).toEqual([{ table_id: t.TableId, created_at: t.CreationDateTime }]);
    expect(await rows('select * from iasql_preview_sync()')).toEqual([]);
  });
});

describe('changes', () => {
  test('throughput and billing mode update in place', async () => {
    const tableId = (await describe_('orders')).TableId;
    expect(await change(`update dynamo_table set throughput = '{"ReadCapacityUnits": 5, "WriteCapacityUnits": 3}' where table_name = 'orders'`)).toEqual([
      { action: 'update', table_name: 'dynamo_table', id: expect.any(Number), description: 'orders|us-east-1' },
    ]);
    let t = await describe_('orders');
    expect(t.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 5, WriteCapacityUnits: 3 });
    expect(t.TableId).toBe(tableId);
    await change(`update dynamo_table set throughput = '{"ReadCapacityUnits": 7, "WriteCapacityUnits": 3}' where table_name = 'orders'`);
    expect((await describe_('orders')).ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 7, WriteCapacityUnits: 3 });
    await change(`update dynamo_table set throughput = '"PAY_PER_REQUEST"' where table_name = 'orders'`);
    t = await describe_('orders');
    expect(t.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t.TableId).toBe(tableId);
  });

  test('a new key schema replaces the table', async () => {
    const before = (await describe_('orders')).TableId;
    expect(await change(`update dynamo_table set primary_key = '{"customer": "S"}' where table_name = 'orders'`)).toEqual([
      { action: 'replace', table_name: 'dynamo_table', id: expect.any(Number), description: 'orders|us-east-1' },
    ]);
    const t = await describe_('orders');
    expect(t.KeySchema).toEqual([{ AttributeName: 'customer', KeyType: 'HASH' }]);
    expect(t.TableId).not.toBe(before);
    expect((await rows(`select table_id from dynamo_table where table_name = 'orders'`))[0].table_id).toBe(t.TableId);
  });

  test('moving to another region deletes it in the old one and creates it in the new one', async () => {
    expect(await change(`update dynamo_table set region = 'eu-west-1' where table_name = 'orders'`)).toEqual([
      { action: 'delete', table_name: 'dynamo_table', id: expect.any(Number), description: 'orders|us-east-1' },
      { action: 'create', table_name: 'dynamo_table', id: expect.any(Number), description: 'orders|eu-west-1' },
    ]);
    expect(await tablesIn('us-east-1')).not.toContain('orders');
    expect(await tablesIn('eu-west-1')).toContain('orders');
    expect((await describe_('orders', 'eu-west-1')).KeySchema).toEqual([{ AttributeName: 'customer', KeyType: 'HASH' }]);
  });

  test('rollback discards edits: rows go back to what the cloud has, the cloud is untouched', async () => {
    const before = await rows('select * from dynamo_table order by id');
    await rows('select * from iasql_begin()');
    await c.query(`update dynamo_table set throughput = '{"ReadCapacityUnits": 9, "WriteCapacityUnits": 9}'; insert into dynamo_table (table_name, primary_key) values ('never', '{"k": "S"}')`);
    expect((await rows('select action, description from iasql_rollback() order by description')).map((r) => `${r.action} ${r.description}`)).toEqual([
      'delete never|us-east-1',
      'update orders|eu-west-1',
    ]);
    expect(await rows('select * from dynamo_table order by id')).toEqual(before);
    expect(await tablesIn('us-east-1')).not.toContain('never');
  });

  test('delete removes it', async () => {
    await change(`insert into dynamo_table (table_name, primary_key) values ('doomed', '{"pk": "S"}')`);
    expect(await tablesIn('us-east-1')).toContain('doomed');
    expect(await change(`delete from dynamo_table where table_name = 'doomed'`)).toEqual([
      { action: 'delete', table_name: 'dynamo_table', id: null, description: 'doomed|us-east-1' },
    ]);
    expect(await tablesIn('us-east-1')).not.toContain('doomed');
  });
});

describe('what the cloud has', () => {
  test('sync imports tables created and deleted behind our back; preview_sync reports the drift first', async () => {
    await sdk('us-west-2').send(
      new CreateTableCommand({ TableName: 'outside', BillingMode: 'PAY_PER_REQUEST', KeySchema: [{ AttributeName: 'k', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'k', AttributeType: 'S' }] }),
    );
    await sdk('eu-west-1').send(new DeleteTableCommand({ TableName: 'orders' }));
    expect(await rows('select action, description from iasql_preview_sync() order by description')).toEqual([
      { action: 'delete', description: 'orders|eu-west-1' },
      { action: 'create', description: 'outside|us-west-2' },
    ]);
    expect((await rows('select table_name from dynamo_table order by 1')).map((r) => r.table_name)).toEqual(['orders']);
    await rows('select * from iasql_sync()');
    expect(await rows('select table_name, region, throughput, primary_key from dynamo_table order by 1')).toEqual([
      { table_name: 'outside', region: 'us-west-2', throughput: 'PAY_PER_REQUEST', primary_key: { k: 'S' } },
    ]);
    expect(await rows('select * from iasql_preview_sync()')).toEqual([]);
  });

  test('uninstall then install gives the same rows back', async () => {
    await change(`insert into dynamo_table (table_name, throughput, primary_key) values ('kept', '{"ReadCapacityUnits": 2, "WriteCapacityUnits": 1}', '{"a": "S", "b": "N"}')`);
    const shape = 'select table_name, table_class, throughput::text, table_id, primary_key::text, created_at, region from dynamo_table order by table_name';
    const before = await rows(shape);
    expect((await uninstall(engine, db.name, ['aws_dynamo'])).status).toBe(200);
    expect(await rows(`select * from iasql_install('aws_dynamo')`)).toEqual([{ module_name: 'aws_dynamo', created_table_name: 'dynamo_table', record_count: 2 }]);
    expect(await rows(shape)).toEqual(before);
  });
});

describe('bad input is refused when written, saying what to write', () => {
  test.each([
    [`insert into dynamo_table (table_name, throughput, primary_key) values ('tab1', '"ON_DEMAND"', '{"id": "S"}')`, /^dynamo_table\.throughput "ON_DEMAND" is neither on-demand nor provisioned capacity$/, /PAY_PER_REQUEST/],
    [`insert into dynamo_table (table_name, throughput, primary_key) values ('tab1', '{"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}', '{"id": "S"}')`, /throughput .* is neither/, /at least 1/],
    [`insert into dynamo_table (table_name, throughput, primary_key) values ('tab1', '{"ReadCapacityUnits": 1}', '{"id": "S"}')`, /throughput .* is neither/, /WriteCapacityUnits/],
    [`insert into dynamo_table (table_name, primary_key) values ('tab1', '{"id": "X"}')`, /^dynamo_table\.primary_key: key 'id' has type "X", not S, N or B$/, /"S" \(string\)/],
    [`insert into dynamo_table (table_name, primary_key) values ('tab1', '{}')`, /must name one or two distinct keys/, /range key/],
    [`insert into dynamo_table (table_name, primary_key) values ('tab1', '["id"]')`, /is not a JSON object/, /hash key/],
    [`insert into dynamo_table (table_name, primary_key, region) values ('tab1', '{"id": "S"}', 'mars-1')`, /^dynamo_table\.region 'mars-1' is not an AWS region$/, /aws_regions/],
    [`insert into dynamo_table (table_name, primary_key) values ('no spaces!', '{"id": "S"}')`, /is not a valid DynamoDB table name/, /3 to 255/],
    [`insert into dynamo_table (table_name, primary_key, region) values ('outside', '{"id": "S"}', 'us-west-2')`, /^a DynamoDB table named 'outside' already exists in us-west-2$/, /unique per region/],
  ])('%s', async (sql, message, hint) => {
    const before = await rows('select * from dynamo_table order by id');
    const err = await sqlError(c, sql);
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(hint);
    expect(await rows('select * from dynamo_table order by id')).toEqual(before);
  });
});
