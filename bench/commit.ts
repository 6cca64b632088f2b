import { performance } from 'node:perf_hooks';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { Client } from 'pg';
import { benchCloud } from './modules/bench_cloud';
import { benchEngine } from './engine';
import type { Benchmark, Figure } from './run';
import { median } from './stats';

const SIZES = [100, 1_000, 10_000];
const TABLES = 200;

const round = (v: number) => Math.round(v * 100) / 100;
const fig = (name: string, samples: number[], unit = 'ms'): Figure => {
  process.stderr.write(`  ${name}: median ${median(samples).toFixed(2)} ${unit}\n`);
  return { name, value: round(median(samples)), unit, runs: samples.length };
};

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

/**
 * The commit engine's cost: (1) preview and commit of one changed row in databases holding 100,
 * 1,000 and 10,000 managed resources (an in-process cloud answers at once, so this is the
 * engine's own work), which should stay flat; (2) a commit creating 200 DynamoDB tables on the
 * local cloud against the same CreateTable calls made directly through the SDK at the same
 * concurrency.
 */
export const commit: Benchmark = {
  name: 'commit',
  description: `preview/commit of one change among ${SIZES.join(', ')} managed resources; commit of ${TABLES} DynamoDB tables vs the same calls through the SDK`,
  async run(runs) {
    const b = await benchEngine({ localCloud: 'memory' });
    const figures: Figure[] = [];
    try {
      figures.push(...(await dynamoVsSdk(b, runs)));
      for (const n of SIZES) {
        const { name, connectionString } = await b.call('POST', '/v1/databases', { name: `bench_commit_${n}` });
        await b.call('POST', `/v1/databases/${name}/modules`, { install: ['bench_cloud'] });
        // n resources that exist in the cloud and in the table (as an import would leave them).
        const cloud = benchCloud(name);
        for (let i = 0; i < n; i++) cloud.set(`r${i}`, { name: `r${i}`, size: 1, cloud_id: `bench-seed-${i}` });
        await b.engine.conns.transaction(name, async (c) => {
          await c.query(`select set_config('iasql.source', 'import', true)`);
          await c.query(`insert into public.bench_resource (name, size, cloud_id) select 'r' || i, 1, 'bench-seed-' || i from generate_series(0, $1 - 1) i`, [n]);
        });
        await b.engine.conns.query(name, 'vacuum analyze public.bench_resource');
        await b.engine.conns.query(name, 'vacuum analyze iasql_engine.iasql_audit_log');
        const c = new Client({ connectionString });
        c.on('error', () => undefined);
        await c.connect();
        const preview: number[] = [];
        const commitMs: number[] = [];
        try {
          for (let r = 0; r < runs + 1; r++) {
            await c.query('select * from iasql_begin()');
            await c.query(`update bench_resource set size = size + 1 where name = $1`, [`r${(r * 7919) % n}`]);
            const [p, plan] = await timed(() => c.query('select * from iasql_preview()'));
            const [m, done] = await timed(() => c.query(`select * from iasql_commit('bench')`));
            if (plan.rows.length !== 1 || done.rows.length !== 1) throw new Error(`expected one update, got ${JSON.stringify(done.rows)}`);
            if (r > 0) {
              // the first round warms plans, pools and dblink
              preview.push(p);
              commitMs.push(m);
            }
          }
        } finally {
          await c.end();
        }
        figures.push(fig(`commit.preview_1_of_${n}`, preview), fig(`commit.commit_1_of_${n}`, commitMs));
        await b.call('DELETE', `/v1/databases/${name}`);
      }
    } finally {
      await b.stop();
    }
    return figures;
  },
};

/** Runs `fn` over `items`, at most `n` at once (what the engine does per service and region). */
async function limited<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

async function dynamoVsSdk(b: Awaited<ReturnType<typeof benchEngine>>, runs: number): Promise<Figure[]> {
  const endpoint = b.engine.localCloud!.endpoint;
  const { name, connectionString, localCloud } = await b.call('POST', '/v1/databases', { name: 'bench_dynamo' });
  // The database's own local-cloud account: the SDK side sees the same tables the engine makes.
  const sdk = new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: localCloud });
  await b.call('POST', `/v1/databases/${name}/modules`, { install: ['aws_dynamo'] });
  const c = new Client({ connectionString });
  c.on('error', () => undefined);
  await c.connect();
  const engineMs: number[] = [];
  const previewMs: number[] = [];
  const sdkMs: number[] = [];
  const ratio: number[] = [];
  const concurrency = 10; // the engine's default per service and region
  try {
    for (let r = 0; r < runs; r++) {
      // Alternate which goes first, so neither gets the warmer process every time.
      const sdkFirst = r % 2 === 1;
      const names = Array.from({ length: TABLES }, (_, i) => `d${r}_${i + 1}`);
      const direct = () =>
        timed(() =>
          limited(names, concurrency, async (n) => {
            await sdk.send(new CreateTableCommand({ TableName: n, BillingMode: 'PAY_PER_REQUEST', KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }] }));
            await waitUntilTableExists({ client: sdk, minDelay: 1, maxDelay: 5, maxWaitTime: 600 }, { TableName: n });
          }),
        );
      const [d] = sdkFirst ? await direct() : [0];
      // Through the engine: one commit creating TABLES tables.
      await c.query('select * from iasql_begin()');
      await c.query(`insert into dynamo_table (table_name, primary_key) select 'e${r}_' || i, '{"id": "S"}' from generate_series(1, ${TABLES}) i`);
      const [p, plan] = await timed(() => c.query('select * from iasql_preview()'));
      const [e, done] = await timed(() => c.query(`select * from iasql_commit('bench')`));
      if (plan.rows.length !== TABLES || done.rows.length !== TABLES) throw new Error(`expected ${TABLES} creates, got ${done.rows.length}`);
      // The same CreateTable calls (each until the table is usable, as a commit waits) straight through the SDK.
      const [d2] = sdkFirst ? [d] : await direct();
      previewMs.push(p);
      engineMs.push(e);
      sdkMs.push(d2);
      ratio.push(e / d2);
      process.stderr.write(`  run ${r + 1}/${runs}: commit ${e.toFixed(0)} ms, SDK ${d2.toFixed(0)} ms, ratio ${(e / d2).toFixed(2)}\n`);
      // Clean up outside the timings.
      await limited(names, concurrency, (n) => sdk.send(new DeleteTableCommand({ TableName: n })));
      await c.query('select * from iasql_begin()');
      await c.query('delete from dynamo_table');
      await c.query(`select * from iasql_commit('cleanup')`);
    }
  } finally {
    await c.end();
    sdk.destroy();
  }
  await b.call('DELETE', `/v1/databases/${name}`);
  return [
    fig(`commit.preview_create_${TABLES}_dynamo`, previewMs),
    fig(`commit.commit_create_${TABLES}_dynamo`, engineMs),
    fig(`commit.sdk_create_${TABLES}_dynamo`, sdkMs),
    fig(`commit.commit_vs_sdk_${TABLES}_dynamo`, ratio, 'x'),
  ];
}
