import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { benchEngine } from './engine';
import type { Benchmark, Figure } from './run';
import { median, p95 } from './stats';

const SEQUENTIAL = 500;
const CONCURRENT_CLIENTS = 8;
const CONCURRENT_CALLS = 2000;
const SLEEP_MS = 50;
const SLEEP_CALLS = 20;

async function timeEach(c: Client, sql: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await c.query(sql);
    out.push(performance.now() - t0);
  }
  return out;
}

const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

/**
 * The rpc path end to end, from a SQL client in the tenant database: generated function, dblink
 * enqueue, graphile-worker, dispatch, result. The engine runs in this process on a throw-away
 * Postgres. Each run reports its own figures; the table shows medians over runs.
 */
export const rpc: Benchmark = {
  name: 'rpc',
  description: `no-op rpc p50/p95 over ${SEQUENTIAL} sequential calls vs SELECT 1; ${CONCURRENT_CLIENTS} concurrent callers (calls/s); overhead above a ${SLEEP_MS} ms handler`,
  async run(runs) {
    const b = await benchEngine();
    try {
      const { name, connectionString } = await b.call('POST', '/v1/databases', { name: 'bench_rpc' });
      await b.call('POST', `/v1/databases/${name}/modules`, { install: ['bench_rpc'] });
      const clients = await Promise.all(
        Array.from({ length: CONCURRENT_CLIENTS }, async () => {
          const c = new Client({ connectionString });
          c.on('error', (err) => process.stderr.write(`bench client lost: ${err.message}\n`));
          await c.connect();
          return c;
        }),
      );
      const [c] = clients;
      await timeEach(c, 'select bench_noop()', 50); // warm up: dblink connection, pools, plans
      const samples: Record<string, number[]> = {};
      const add = (k: string, v: number) => (samples[k] ??= []).push(v);
      for (let r = 0; r < runs; r++) {
        const noop = await timeEach(c, 'select bench_noop()', SEQUENTIAL);
        const select1 = await timeEach(c, 'select 1', SEQUENTIAL);
        add('rpc.noop_p50', median(noop));
        add('rpc.noop_p95', p95(noop));
        add('rpc.select1_p50', median(select1));
        add('rpc.noop_vs_select1', median(noop) / median(select1));

        let next = 0;
        const t0 = performance.now();
        await Promise.all(
          clients.map(async (cl) => {
            while (next++ < CONCURRENT_CALLS) await cl.query('select bench_noop()');
          }),
        );
        add('rpc.concurrent_8_calls_per_s', CONCURRENT_CALLS / ((performance.now() - t0) / 1000));

        const slept = await timeEach(c, `select bench_sleep(${SLEEP_MS})`, SLEEP_CALLS);
        add('rpc.sleep50_overhead_p50', median(slept) - SLEEP_MS);

        // Where the time goes, from the queue's own timestamps of this run's sequential calls.
        const { rows } = await b.engine.conns.query<{ queue: number; work: number }>(
          'iasql_metadata',
          `select percentile_cont(0.5) within group (order by extract(epoch from started_at - created_at) * 1000) as queue,
                  percentile_cont(0.5) within group (order by extract(epoch from finished_at - started_at) * 1000) as work
           from (select * from public.rpc_call where method = 'bench_noop' order by id desc offset $1 limit $2) s`,
          [CONCURRENT_CALLS, SEQUENTIAL],
        );
        add('rpc.noop_enqueue_to_start_p50', rows[0].queue);
        add('rpc.noop_start_to_finish_p50', rows[0].work);
        await b.engine.conns.query('iasql_metadata', 'vacuum public.rpc_call');
        await b.engine.conns.query('iasql_metadata', 'vacuum graphile_worker._private_jobs');
        process.stderr.write(`  run ${r + 1}/${runs}: noop p50 ${median(noop).toFixed(2)} ms, ${samples['rpc.concurrent_8_calls_per_s'].at(-1)!.toFixed(0)} calls/s\n`);
      }
      await Promise.all(clients.map((cl) => cl.end()));
      const unit = (k: string) => (k.endsWith('_per_s') ? 'calls/s' : k.endsWith('vs_select1') ? 'x' : 'ms');
      return Object.entries(samples).map(([k, v]): Figure => ({ name: k, value: round(median(v)), unit: unit(k), runs }));
    } finally {
      await b.stop();
    }
  },
};
