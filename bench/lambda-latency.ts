/**
 * Invoke latency of the local cloud's Lambda alone (no engine, no Postgres), through
 * @aws-sdk/client-lambda over HTTP on 127.0.0.1: the median of warm invokes of a trivial handler,
 * and the median cold start (the first Invoke of a new function: unzip, spawn, load the handler).
 * Prints one JSON line. Standalone, to compare the sandbox's cost A/B:
 *
 *   npm run build --silent && node dist/bench/lambda-latency.js [--warm 300] [--cold 30]
 */
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { strToU8, zipSync } from 'fflate';
import { performance } from 'node:perf_hooks';
import { startLocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { median, p95 } from './stats';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

async function main(): Promise<void> {
  const warmCalls = arg('warm', 300);
  const coldStarts = arg('cold', 30);
  const cloud = await startLocalCloud({ port: 0, logger: createLogger('silent') });
  const credentials = await cloud.accounts.create('bench');
  const lambda = new LambdaClient({ region: 'us-east-1', endpoint: cloud.endpoint, credentials });
  const iam = new IAMClient({ region: 'us-east-1', endpoint: cloud.endpoint, credentials });
  try {
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
    const { Role } = await iam.send(new CreateRoleCommand({ RoleName: 'bench', AssumeRolePolicyDocument: trust }));
    const code = zipSync({ 'index.js': strToU8('exports.handler = async (e) => ({ total: e.a + e.b });') });
    const create = (name: string) =>
      lambda.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs20.x', Role: Role!.Arn!, Handler: 'index.handler', Code: { ZipFile: code } }));
    const invoke = (name: string) => lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{"a": 2, "b": 40}') }));
    const timed = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };

    await create('warm');
    for (let i = 0; i < 30; i++) await invoke('warm'); // the instance, the HTTP connection, JIT
    const warm: number[] = [];
    for (let i = 0; i < warmCalls; i++) warm.push(await timed(() => invoke('warm')));

    const cold: number[] = [];
    for (let i = 0; i < coldStarts; i++) {
      await create(`cold${i}`);
      cold.push(await timed(() => invoke(`cold${i}`)));
    }
    const r = (v: number) => Math.round(v * 100) / 100;
    process.stdout.write(
      JSON.stringify({ warm_p50_ms: r(median(warm)), warm_p95_ms: r(p95(warm)), warm_calls: warmCalls, cold_p50_ms: r(median(cold)), cold_p95_ms: r(p95(cold)), cold_starts: coldStarts, uid: process.getuid?.() }) + '\n',
    );
  } finally {
    lambda.destroy();
    iam.destroy();
    await cloud.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
