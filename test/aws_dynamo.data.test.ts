import { BatchWriteItemCommand, CreateTableCommand, GetItemCommand, PutItemCommand, WriteRequest } from '@aws-sdk/client-dynamodb';
import { Client } from 'pg';
import { stopTestEngine, TestEngine } from './support/engine';
import { newDatabase, NewDatabase, startModuleEngine } from './support/modules';
import { dynamoClientAt } from './support/localcloud';
import { connect, sqlError } from './support/sql';

// The DynamoDB data plane from SQL (aws_dynamo's rpc methods): tables made through the commit
// engine, items written and read through SQL, checked through the AWS SDK against the engine's
// local cloud, and the other way round.
let engine: TestEngine;
let c: Client;
let db: NewDatabase;
const sdk = (region = 'us-east-1') => dynamoClientAt(engine.localCloud!.endpoint, region, db.cloud);

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'dyndata');
  c = await connect(db.url);
  await c.query(`select * from iasql_install('aws_dynamo')`);
  await c.query('select * from iasql_begin()');
  await c.query(`insert into dynamo_table (table_name, primary_key) values
                   ('orders', '{"id": "S", "ts": "N"}'), ('people', '{"name": "S"}'), ('bulk', '{"n": "N"}')`);
  await c.query(`insert into dynamo_table (table_name, primary_key, region) values ('euro', '{"id": "S"}', 'eu-west-1')`);
  await c.query(`select * from iasql_commit('tables for the data plane')`);
  // A secondary index is not something dynamo_table describes: this table comes straight from the SDK.
  await sdk().send(
    new CreateTableCommand({
      TableName: 'indexed',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [
        { AttributeName: 'id', AttributeType: 'S' },
        { AttributeName: 'customer', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [{ IndexName: 'by_customer', KeySchema: [{ AttributeName: 'customer', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } }],
    }),
  );
});
afterAll(async () => {
  await c?.end();
  await stopTestEngine(engine);
});

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
const one = async (sql: string, params: unknown[] = []) => (await rows(sql, params))[0];

describe('the functions', () => {
  test('are listed by iasql_help() with their signature, description and example', async () => {
    const help = await rows(`select name, signature, description, sample_usage from iasql_help() where name like 'dynamo\\_%' order by name`);
    expect(help.map((h) => h.signature)).toEqual([
      'dynamo_delete(table_name text, key jsonb, region text DEFAULT public.default_aws_region()) RETURNS jsonb',
      'dynamo_get(table_name text, key jsonb, region text DEFAULT public.default_aws_region()) RETURNS jsonb',
      'dynamo_put(table_name text, item jsonb, region text DEFAULT public.default_aws_region()) RETURNS jsonb',
      "dynamo_query(table_name text, key_condition text, expression_values jsonb DEFAULT '{}'::jsonb, expression_names jsonb DEFAULT NULL::jsonb, index_name text DEFAULT NULL::text, region text DEFAULT public.default_aws_region()) RETURNS TABLE(item jsonb)",
      'dynamo_scan(table_name text, region text DEFAULT public.default_aws_region()) RETURNS TABLE(item jsonb)',
    ]);
    for (const h of help) {
      expect(h.description).toMatch(/default_aws_region\(\)/);
      expect(h.sample_usage).toMatch(new RegExp(`^SELECT .*${h.name}\\('orders'`));
    }
  });
});

describe('items as JSON', () => {
  test('dynamo_put returns the item as stored; the SDK reads it with DynamoDB types', async () => {
    const item = { id: 'a1', ts: 1, total: 99.5, paid: true, note: null, tags: ['new', 2], addr: { city: 'Lyon', zip: '69001' }, empty: '' };
    expect(await one(`select dynamo_put('orders', $1) as r`, [item])).toEqual({ r: item });
    const got = await sdk().send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: 'a1' }, ts: { N: '1' } } }));
    expect(got.Item).toEqual({
      id: { S: 'a1' },
      ts: { N: '1' },
      total: { N: '99.5' },
      paid: { BOOL: true },
      note: { NULL: true },
      tags: { L: [{ S: 'new' }, { N: '2' }] },
      addr: { M: { city: { S: 'Lyon' }, zip: { S: '69001' } } },
      empty: { S: '' },
    });
    expect(await one(`select dynamo_get('orders', '{"id": "a1", "ts": 1}') as r`)).toEqual({ r: item });
  });

  test('what the SDK writes reads back as JSON: sets as arrays, binary as base64, numbers beyond a double as exact digits', async () => {
    await sdk().send(
      new PutItemCommand({
        TableName: 'orders',
        Item: {
          id: { S: 'sdk' },
          ts: { N: '2' },
          colors: { SS: ['red', 'blue'] },
          sizes: { NS: ['1', '2.5'] },
          blob: { B: Buffer.from('hello') },
          blobs: { BS: [Buffer.from([0, 1]), Buffer.from([255])] },
          big: { N: '12345678901234567890123456789012345678' },
          precise: { N: '0.12345678901234567891' },
          small: { N: '-0.001' },
        },
      }),
    );
    const r = (await one(`select dynamo_get('orders', '{"id": "sdk", "ts": 2}') as r`)).r;
    expect(r).toEqual({
      id: 'sdk',
      ts: 2,
      colors: expect.arrayContaining(['red', 'blue']),
      sizes: expect.arrayContaining([1, 2.5]),
      blob: Buffer.from('hello').toString('base64'),
      blobs: expect.arrayContaining(['AAE=', '/w==']),
      big: '12345678901234567890123456789012345678',
      precise: '0.12345678901234567891',
      small: -0.001,
    });
    expect(r.colors).toHaveLength(2);
    // Either way a number is spelled, ::numeric gives its exact value.
    expect(
      await one(`select (r->>'big')::numeric + 1 as big, (r->>'precise')::numeric * 10 as precise, (r->>'small')::numeric as small, jsonb_typeof(r->'small') as t
                 from (select dynamo_get('orders', '{"id": "sdk", "ts": 2}') as r) s`),
    ).toEqual({ big: '12345678901234567890123456789012345679', precise: '1.23456789012345678910', small: '-0.001', t: 'number' });
  });

  test('dynamo_get of a key with no item is NULL', async () => {
    // Asked in SQL: node-pg reads a JSON null and an SQL NULL alike.
    expect(await one(`select dynamo_get('orders', '{"id": "nobody", "ts": 0}') is null as r`)).toEqual({ r: true });
  });

  test('dynamo_delete returns the item it deleted, then NULL', async () => {
    await rows(`select dynamo_put('orders', '{"id": "gone", "ts": 5, "x": 1}')`);
    expect(await one(`select dynamo_delete('orders', '{"id": "gone", "ts": 5}') as r`)).toEqual({ r: { id: 'gone', ts: 5, x: 1 } });
    expect((await sdk().send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: 'gone' }, ts: { N: '5' } } }))).Item).toBeUndefined();
    expect(await one(`select dynamo_delete('orders', '{"id": "gone", "ts": 5}') is null as r`)).toEqual({ r: true });
  });

  test('another region, by name', async () => {
    expect(await one(`select dynamo_put('euro', '{"id": "e1", "v": 1}', region => 'eu-west-1') as r`)).toEqual({ r: { id: 'e1', v: 1 } });
    expect((await sdk('eu-west-1').send(new GetItemCommand({ TableName: 'euro', Key: { id: { S: 'e1' } } }))).Item).toEqual({ id: { S: 'e1' }, v: { N: '1' } });
    expect(await rows(`select item from dynamo_scan('euro', 'eu-west-1')`)).toEqual([{ item: { id: 'e1', v: 1 } }]);
  });
});

describe('query and scan', () => {
  beforeAll(async () => {
    for (let ts = 10; ts < 20; ts++) await rows(`select dynamo_put('orders', $1)`, [{ id: 'c7', ts, total: ts * 10, status: ts % 2 ? 'open' : 'paid' }]);
  });

  test('dynamo_query returns the matching items as rows, usable in SQL', async () => {
    expect(await rows(`select item->>'total' as total from dynamo_query('orders', 'id = :id AND ts >= :t', '{":id": "c7", ":t": 17}')`)).toEqual([
      { total: '170' },
      { total: '180' },
      { total: '190' },
    ]);
    expect(
      await rows(`select item->>'status' as status, count(*)::int as n, sum((item->>'total')::numeric)::int as total
                  from dynamo_query('orders', 'id = :id', '{":id": "c7"}') group by 1 order by 1`),
    ).toEqual([
      { status: 'open', n: 5, total: 750 },
      { status: 'paid', n: 5, total: 700 },
    ]);
    expect(await rows(`select (item->>'ts')::int as ts from dynamo_query('orders', 'id = :id', '{":id": "c7"}') where item->>'status' = 'paid' order by 1 desc limit 2`)).toEqual([
      { ts: 18 },
      { ts: 16 },
    ]);
    expect(await rows(`select * from dynamo_query('orders', 'id = :id', '{":id": "nobody"}')`)).toEqual([]);
  });

  test('reserved words need #name placeholders: expression_names', async () => {
    await rows(`select dynamo_put('people', '{"name": "ada", "born": 1815}')`);
    const err = await sqlError(c, `select * from dynamo_query('people', 'name = :n', '{":n": "ada"}')`);
    expect(err).toMatchObject({ code: 'IQ001', detail: 'cloud error code: ValidationException', hint: `reserved words (name, status, date...) need a #placeholder: '#n = :n', expression_names => '{"#n": "name"}'` });
    expect(err.message).toMatch(/^dynamo_query on 'people' in us-east-1: .*reserved keyword.*name/i);
    expect(await rows(`select item from dynamo_query('people', '#n = :n', '{":n": "ada"}', '{"#n": "name"}')`)).toEqual([{ item: { name: 'ada', born: 1815 } }]);
    expect(await rows(`select item from dynamo_query('people', '#n = :n', expression_values => '{":n": "ada"}', expression_names => '{"#n": "name"}')`)).toHaveLength(1);
  });

  test('a secondary index, by index_name', async () => {
    for (const [id, customer] of [['o1', 'ann'], ['o2', 'bob'], ['o3', 'ann']]) await rows(`select dynamo_put('indexed', $1)`, [{ id, customer }]);
    expect(await rows(`select item->>'id' as id from dynamo_query('indexed', 'customer = :c', '{":c": "ann"}', index_name => 'by_customer') order by 1`)).toEqual([
      { id: 'o1' },
      { id: 'o3' },
    ]);
    expect(await sqlError(c, `select * from dynamo_query('indexed', 'customer = :c', '{":c": "ann"}', index_name => 'nope')`)).toEqual({
      code: 'IQ001',
      message: "dynamo_query on 'indexed' in us-east-1: The table does not have the specified index: nope",
      detail: 'cloud error code: ValidationException',
      hint: 'index_name must name a secondary index of the table, or be NULL for the table itself',
    });
  });

  test('dynamo_scan returns every item', async () => {
    expect(await one(`select count(*)::int as n, count(*) filter (where item->>'id' = 'c7')::int as c7 from dynamo_scan('orders')`)).toEqual({ n: 12, c7: 10 });
  });

  test('a scan of 10,000 items (loaded with BatchWriteItem) returns all of them, page after page', async () => {
    const N = 10_000;
    const requests: WriteRequest[] = Array.from({ length: N }, (_, n) => ({ PutRequest: { Item: { n: { N: String(n) }, label: { S: `item ${n}` }, pad: { S: 'x'.repeat(200) } } } }));
    const batches = Array.from({ length: N / 25 }, (_, i) => requests.slice(i * 25, i * 25 + 25));
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < batches.length) {
          let batch = batches[next++];
          while (batch.length) batch = (await sdk().send(new BatchWriteItemCommand({ RequestItems: { bulk: batch } }))).UnprocessedItems?.bulk ?? [];
        }
      }),
    );
    const t0 = Date.now();
    expect(await one(`select count(*)::int as n, count(distinct item->>'n')::int as d, sum((item->>'n')::bigint)::bigint as s, max(length(item->>'pad'))::int as pad from dynamo_scan('bulk')`)).toEqual({
      n: N,
      d: N,
      s: String((N * (N - 1)) / 2),
      pad: 200,
    });
    process.stderr.write(`  dynamo_scan of ${N} items: ${Date.now() - t0} ms\n`);
    expect(await rows(`select item->>'label' as label from dynamo_scan('bulk') order by (item->>'n')::int desc limit 1`)).toEqual([{ label: `item ${N - 1}` }]);
  }, 120_000);
});

describe('errors say what was wrong and what to do', () => {
  test('a table that does not exist: ResourceNotFoundException in DETAIL, and where it is in the hint', async () => {
    for (const sql of [
      `select dynamo_get('nope', '{"id": "1"}')`,
      `select dynamo_put('nope', '{"id": "1"}')`,
      `select dynamo_delete('nope', '{"id": "1"}')`,
      `select * from dynamo_query('nope', 'id = :id', '{":id": "1"}')`,
      `select * from dynamo_scan('nope')`,
    ]) {
      const fn = /(dynamo_\w+)/.exec(sql)![1];
      expect(await sqlError(c, sql)).toEqual({
        code: 'IQ001',
        message: `${fn}: DynamoDB table 'nope' does not exist in us-east-1`,
        detail: 'cloud error code: ResourceNotFoundException',
        hint: `SELECT table_name, region FROM dynamo_table lists the tables; to create it: SELECT * FROM iasql_begin(), INSERT INTO dynamo_table (table_name, primary_key) VALUES ('nope', '{"id": "S"}'), then SELECT * FROM iasql_commit()`,
      });
    }
    expect(await sqlError(c, `select * from dynamo_scan('euro')`)).toEqual({
      code: 'IQ001',
      message: `dynamo_scan: DynamoDB table 'euro' does not exist in us-east-1`,
      detail: 'cloud error code: ResourceNotFoundException',
      hint: `it is in eu-west-1: pass region => 'eu-west-1'`,
    });
  });

  test('a row not committed yet', async () => {
    await rows('select * from iasql_begin()');
    await c.query(`insert into dynamo_table (table_name, primary_key) values ('later', '{"id": "S"}')`);
    expect(await sqlError(c, `select * from dynamo_scan('later')`)).toMatchObject({ code: 'IQ001', hint: 'its dynamo_table row is not committed yet: SELECT * FROM iasql_commit()' });
    await rows('select * from iasql_rollback()');
  });

  test('a key that does not match the table: ValidationException, and the table key in the hint', async () => {
    for (const key of ['{"id": "a1"}', '{"id": "a1", "ts": "1"}', '{"order": "a1", "ts": 1}']) {
      expect(await sqlError(c, `select dynamo_get('orders', $1)`, [key])).toEqual({
        code: 'IQ001',
        message: expect.stringMatching(/^dynamo_get on 'orders' in us-east-1: .*key/i),
        detail: 'cloud error code: ValidationException',
        hint: `the key of 'orders' is {"id":"S","ts":"N"}: name exactly these attributes, with these types`,
      });
    }
    expect(await sqlError(c, `select dynamo_put('orders', '{"id": "a1"}')`)).toMatchObject({
      code: 'IQ001',
      detail: 'cloud error code: ValidationException',
      hint: `the item needs the key attributes of 'orders', {"id":"S","ts":"N"}, with these types`,
    });
  });

  test('a key or item that is not a JSON object, or has no key, is an argument error', async () => {
    const keyHint = `give the table's key attributes as a JSON object: '{"id": "42"}', or '{"id": "42", "ts": 1700000000}' with a range key`;
    expect(await sqlError(c, `select dynamo_get('orders', '["a1", 1]')`)).toEqual({ code: 'IQ002', message: 'key must be a JSON object of attributes, not an array', detail: undefined, hint: keyHint });
    expect(await sqlError(c, `select dynamo_delete('orders', '"a1"')`)).toMatchObject({ code: 'IQ002', message: 'key must be a JSON object of attributes, not the string "a1"' });
    expect(await sqlError(c, `select dynamo_get('orders', '{}')`)).toMatchObject({ code: 'IQ002', message: 'key must name 1 or 2 attributes (the hash key, and the range key if the table has one), not 0' });
    expect(await sqlError(c, `select dynamo_get('orders', '{"a": 1, "b": 2, "c": 3}')`)).toMatchObject({ code: 'IQ002', message: /not 3$/ });
    expect(await sqlError(c, `select dynamo_put('orders', '[1]')`)).toMatchObject({ code: 'IQ002', message: 'item must be a JSON object of attributes, not an array' });
    expect(await sqlError(c, `select dynamo_get('orders', null)`)).toMatchObject({ code: 'IQ002', message: "rpc aws_dynamo.dynamo_get: argument 'key' is required (got NULL)" });
  });

  test('an integer beyond 2^53 is refused, not stored with other digits', async () => {
    expect(await sqlError(c, `select dynamo_put('orders', '{"id": "big", "ts": 1, "a": {"b": [12345678901234567890]}}')`)).toEqual({
      code: 'IQ002',
      message: 'item.a.b[0]: integers beyond 2^53 lose digits on their way to DynamoDB (this one arrived as 12345678901234567000)',
      detail: undefined,
      hint: 'store it as a string ("12345678901234567890"), or as a number below 9007199254740992',
    });
    expect((await sdk().send(new GetItemCommand({ TableName: 'orders', Key: { id: { S: 'big' }, ts: { N: '1' } } }))).Item).toBeUndefined();
  });

  test('a bad expression: ValidationException with what DynamoDB said, and what to change', async () => {
    const keyHint = `key_condition compares the hash key with = and may bound the range key (the key is {"id":"S","ts":"N"}): 'id = :id AND ts > :t'; filter on other attributes in SQL`;
    for (const [cond, values, said, hint] of [
      ['id = ', '{":id": "c7"}', /Syntax error/, keyHint],
      ['colour = :id', '{":id": "c7"}', /key schema element/, keyHint],
      ['id = :id', '{}', /attribute value.*not defined.*:id/, `each :placeholder needs an entry in expression_values, and each entry a :placeholder: '{":id": "42"}'`],
    ] as const) {
      const err = await sqlError(c, `select * from dynamo_query('orders', $1, $2)`, [cond, values]);
      expect(err).toEqual({ code: 'IQ001', message: expect.stringMatching(/^dynamo_query on 'orders' in us-east-1: /), detail: 'cloud error code: ValidationException', hint });
      expect(err.message).toMatch(said);
    }
  });

  test('expression_values and expression_names of the wrong shape are argument errors', async () => {
    expect(await sqlError(c, `select * from dynamo_query('orders', 'id = :id', '["c7"]')`)).toMatchObject({ code: 'IQ002', message: 'expression_values must be a JSON object of attributes, not an array' });
    expect(await sqlError(c, `select * from dynamo_query('orders', 'id = :id', '{"id": "c7"}')`)).toMatchObject({ code: 'IQ002', message: "expression_values: 'id' is not a :placeholder" });
    expect(await sqlError(c, `select * from dynamo_query('orders', '#i = :id', '{":id": "c7"}', '"id"')`)).toMatchObject({ code: 'IQ002', message: 'expression_names must be a JSON object, not the string "id"' });
    expect(await sqlError(c, `select * from dynamo_query('orders', '#i = :id', '{":id": "c7"}', '{"#i": 1}')`)).toMatchObject({ code: 'IQ002', message: "expression_names: each entry maps a #placeholder to an attribute name; '#i' → 1 does not" });
  });

  test('an unknown region is an argument error', async () => {
    expect(await sqlError(c, `select dynamo_get('orders', '{"id": "a1", "ts": 1}', 'mars-1')`)).toEqual({
      code: 'IQ002',
      message: "dynamo_get: unknown region 'mars-1'",
      detail: undefined,
      hint: 'SELECT region FROM aws_regions lists them',
    });
  });

  test('failed calls are in iasql_get_errors()', async () => {
    expect(await rows(`select method_name, err from iasql_get_errors() where method_name = 'dynamo_get' and params->>'region' = 'mars-1'`)).toEqual([
      { method_name: 'dynamo_get', err: "dynamo_get: unknown region 'mars-1'" },
    ]);
  });
});
