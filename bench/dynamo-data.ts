import { performance } from 'node:perf_hooks';
import { BatchWriteItemCommand, DynamoDBClient, paginateScan, QueryCommand, WriteRequest } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { Client } from 'pg';
import type { benchEngine } from './engine';
import type { Figure } from './run';
import { median } from './stats';

const QUERIES = 100;
const ITEMS = 10_000;

const round = (v: number) => Math.round(v * 100) / 100;
const fig = (name: string, samples: number[], unit = 'ms'): Figure => {
  process.stderr.write(`  ${name}: median ${median(samples).toFixed(2)} ${unit}\n`);
  return { name, value: round(median(samples)), unit, runs: samples.length };
};

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** [sql ms, sdk ms]; which goes first alternates, so neither always gets the warmer process. */
async function pair(sql: () => Promise<unknown>, sdk: () => Promise<unknown>, sdkFirst: boolean): Promise<[number, number]> {
  const before = sdkFirst ? await timed(sdk) : 0;
  const s = await timed(sql);
  return [s, sdkFirst ? before : await timed(sdk)];
}

/**
 * aws_dynamo's data plane against the same requests made straight through the SDK, on the local
 * cloud: (1) dynamo_query of one item, QUERIES calls each, alternating which goes first, next to
 * a call that does nothing (iasql_version(): the rpc round trip alone); (2) a
 * dynamo_scan of ITEMS items into the client (every page), `runs` times each. Both sides read
 * strongly consistent and end with plain objects (the SDK side unmarshalls), so the difference is
 * the rpc round trip, the JSON conversion and the trip through Postgres.
 */
export async function dynamoDataFigures(b: Awaited<ReturnType<typeof benchEngine>>, runs: number): Promise<Figure[]> {
  const { name, connectionString, localCloud } = await b.call('POST', '/v1/databases', { name: 'bench_dynamo_data' });
  const sdk = new DynamoDBClient({ region: 'us-east-1', endpoint: b.engine.localCloud!.endpoint, credentials: localCloud });
  await b.call('POST', `/v1/databases/${name}/modules`, { install: ['aws_dynamo'] });
  const c = new Client({ connectionString });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query('select * from iasql_begin()');
    await c.query(`insert into dynamo_table (table_name, primary_key) values ('bench_items', '{"id": "S"}')`);
    await c.query(`select * from iasql_commit('bench table')`);
    await load(sdk, 'bench_items', ITEMS);

    const sqlQuery = async () => {
      const r = await c.query(`select item from dynamo_query('bench_items', 'id = :id', '{":id": "k42"}')`);
      if (r.rows.length !== 1) throw new Error(`dynamo_query: expected 1 item, got ${r.rows.length}`);
    };
    const sdkQuery = async () => {
      const r = await sdk.send(new QueryCommand({ TableName: 'bench_items', KeyConditionExpression: 'id = :id', ExpressionAttributeValues: { ':id': { S: 'k42' } }, ConsistentRead: true }));
      if (r.Items?.map((i) => unmarshall(i)).length !== 1) throw new Error('Query: expected 1 item');
    };
    for (let i = 0; i < 10; i++) await sqlQuery(), await sdkQuery(); // warm dblink, pools, clients
    const querySql: number[] = [];
    const querySdk: number[] = [];
    const queryRatio: number[] = [];
    const rpcFloor: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const [s, d] = await pair(sqlQuery, sdkQuery, i % 2 === 1);
      querySql.push(s);
      querySdk.push(d);
      queryRatio.push(s / d);
      rpcFloor.push(await timed(() => c.query('select iasql_version()')));
    }

    const sqlScan = async () => {
      const r = await c.query(`select item from dynamo_scan('bench_items')`);
      if (r.rows.length !== ITEMS) throw new Error(`dynamo_scan: expected ${ITEMS} items, got ${r.rows.length}`);
    };
    const sdkScan = async () => {
      const items = [];
      for await (const page of paginateScan({ client: sdk }, { TableName: 'bench_items', ConsistentRead: true })) for (const i of page.Items ?? []) items.push(unmarshall(i));
      if (items.length !== ITEMS) throw new Error(`Scan: expected ${ITEMS} items, got ${items.length}`);
    };
    await sqlScan();
    await sdkScan();
    const scanSql: number[] = [];
    const scanSdk: number[] = [];
    const scanRatio: number[] = [];
    for (let r = 0; r < runs; r++) {
      const [s, d] = await pair(sqlScan, sdkScan, r % 2 === 1);
      scanSql.push(s);
      scanSdk.push(d);
      scanRatio.push(s / d);
      process.stderr.write(`  scan run ${r + 1}/${runs}: dynamo_scan ${s.toFixed(0)} ms, SDK ${d.toFixed(0)} ms\n`);
    }
    return [
      fig('dynamo_data.query_1_item_sql', querySql),
      fig('dynamo_data.query_1_item_sdk', querySdk),
      fig('dynamo_data.query_sql_vs_sdk', queryRatio, 'x'),
      fig('dynamo_data.rpc_noop', rpcFloor),
      fig(`dynamo_data.scan_${ITEMS}_sql`, scanSql),
      fig(`dynamo_data.scan_${ITEMS}_sql_rate`, scanSql.map((ms) => (ITEMS / ms) * 1000), 'items/s'),
      fig(`dynamo_data.scan_${ITEMS}_sdk`, scanSdk),
      fig('dynamo_data.scan_sql_vs_sdk', scanRatio, 'x'),
    ];
  } finally {
    await c.end();
    sdk.destroy();
    await b.call('DELETE', `/v1/databases/${name}`);
  }
}

/** n items of about 150 bytes (`k0`..), 25 per BatchWriteItem, 8 batches at once. */
async function load(sdk: DynamoDBClient, table: string, n: number) {
  const puts: WriteRequest[] = Array.from({ length: n }, (_, i) => ({
    PutRequest: { Item: { id: { S: `k${i}` }, n: { N: String(i) }, total: { N: String((i % 1000) / 10) }, label: { S: `item ${i}` }, pad: { S: 'x'.repeat(100) } } },
  }));
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < puts.length) {
        let batch = puts.slice(next, (next += 25));
        while (batch.length) batch = (await sdk.send(new BatchWriteItemCommand({ RequestItems: { [table]: batch } }))).UnprocessedItems?.[table] ?? [];
      }
    }),
  );
}
