import { InvokeCommand, LambdaClient, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { dynamoDataFigures } from './dynamo-data';
import { benchEngine } from './engine';
import type { Benchmark, Figure } from './run';
import { median } from './stats';

const CALLS = 100;
/** Cold starts per run: each the first Invoke after an UpdateFunctionConfiguration retired the instance. */
const COLD_STARTS = 10;
const TRUST = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] });

const round = (v: number) => Math.round(v * 100) / 100;
const fig = (name: string, value: number, unit: string, runs: number): Figure => {
  process.stderr.write(`  ${name}: ${round(value)} ${unit}\n`);
  return { name, value: round(value), unit, runs };
};

/** Median ms of `n` sequential calls of `fn`. */
async function medianOf(n: number, fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

/**
 * invoke_lambda_function from SQL against the same Invoke straight through the SDK, on a warm
 * function of the local cloud: the engine's overhead per call.
 */
export const lambda: Benchmark = {
  name: 'lambda',
  description: `invoke_lambda_function of a warm function vs the same Invoke through the SDK (${CALLS} calls each); a cold start (first SDK Invoke after UpdateFunctionConfiguration, ${COLD_STARTS} a run); dynamo_query of one item and a 10,000-item dynamo_scan vs the SDK`,
  async run(runs) {
    const b = await benchEngine({ localCloud: 'memory' });
    let sdk: LambdaClient | undefined;
    try {
      const { name, connectionString, localCloud } = await b.call('POST', '/v1/databases', { name: 'bench_lambda' });
      sdk = new LambdaClient({ region: 'us-east-1', endpoint: b.engine.localCloud!.endpoint, credentials: localCloud });
      await b.call('POST', `/v1/databases/${name}/modules`, { install: ['aws_lambda'] });
      const c = new Client({ connectionString });
      c.on('error', () => undefined);
      await c.connect();
      const sqlMs: number[] = [];
      const sdkMs: number[] = [];
      const coldMs: number[] = [];
      try {
        await c.query('select * from iasql_begin()');
        await c.query(`insert into iam_role (role_name, assume_role_policy_document) values ('bench', $1)`, [TRUST]);
        await c.query(
          `insert into lambda_function (name, handler, runtime, role_name, zip_b64) values ('adder', 'index.handler', 'nodejs20.x', 'bench', lambda_zip($1::jsonb))`,
          [JSON.stringify({ 'index.js': 'exports.handler = async (e) => ({ total: e.a + e.b })' })],
        );
        await c.query(`select * from iasql_commit('bench')`);
        const viaSql = () => c.query(`select payload from invoke_lambda_function('adder', '{"a": 2, "b": 40}')`);
        const client = sdk;
        const viaSdk = () => client.send(new InvokeCommand({ FunctionName: 'adder', Payload: Buffer.from('{"a": 2, "b": 40}') }));
        await medianOf(20, viaSql); // warm: the function's instance, pools, dblink, plans
        await medianOf(20, viaSdk);
        for (let r = 0; r < runs; r++) {
          // Alternate which goes first.
          if (r % 2) sdkMs.push(await medianOf(CALLS, viaSdk));
          sqlMs.push(await medianOf(CALLS, viaSql));
          if (!(r % 2)) sdkMs.push(await medianOf(CALLS, viaSdk));
          process.stderr.write(`  run ${r + 1}/${runs}: SQL ${sqlMs.at(-1)!.toFixed(2)} ms, SDK ${sdkMs.at(-1)!.toFixed(2)} ms\n`);
        }
        for (let r = 0; r < runs; r++) {
          const samples: number[] = [];
          for (let i = 0; i < COLD_STARTS; i++) {
            // A new configuration retires the warm instance: the next Invoke starts one.
            await client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'adder', Environment: { Variables: { COLD: `${r}-${i}` } } }));
            const t0 = performance.now();
            await viaSdk();
            samples.push(performance.now() - t0);
          }
          coldMs.push(median(samples));
          process.stderr.write(`  cold run ${r + 1}/${runs}: ${coldMs.at(-1)!.toFixed(2)} ms\n`);
        }
      } finally {
        await c.end();
      }
      const dynamoFigures = await dynamoDataFigures(b, runs);
      return [
        ...dynamoFigures,
        fig('lambda.invoke_sql_p50', median(sqlMs), 'ms', runs),
        fig('lambda.invoke_sdk_p50', median(sdkMs), 'ms', runs),
        fig('lambda.invoke_overhead', median(sqlMs) - median(sdkMs), 'ms', runs),
        fig('lambda.invoke_sql_vs_sdk', median(sqlMs) / median(sdkMs), 'x', runs),
        fig('lambda.cold_start_sdk_p50', median(coldMs), 'ms', runs),
      ];
    } finally {
      sdk?.destroy();
      await b.stop();
    }
  },
};
