import { performance } from 'node:perf_hooks';
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
    const b = await benchEngine();
    const figures: Figure[] = [];
    try {
      for (const n of SIZES) {
        const { name, connectionString } = await b.call('POST', '/v1/databases', { name: `bench_commit_${n}` });
        await b.call('POST', `/v1/databases/${name}/modules`, { install: ['bench_cloud'] });
        // n resources that exist in the cloud and in the table (as an import would leave them).
        const cloud = benchCloud(name);
        for (let i = 0; i < n; i++) cloud.set(`r${i}`, { name: `r${i}`, size: 1, cloud_id: `bench-seed-${i}` });
        await b.engine.conns.transaction(name, async (c) => {
          await c.query(`select set_config('iasql.source', 'import', true)`);
          await c.query(`insert into bench_resource (name, size, cloud_id) select 'r' || i, 1, 'bench-seed-' || i from generate_series(0, $1 - 1) i`, [n]);
        });
        await b.engine.conns.query(name, 'vacuum analyze bench_resource');
        await b.engine.conns.query(name, 'vacuum analyze iasql_audit_log');
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
