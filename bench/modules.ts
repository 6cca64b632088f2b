import { performance } from 'node:perf_hooks';
import { benchEngine } from './engine';
import type { Benchmark } from './run';
import { median, p95 } from './stats';

const ROWS = 10_000;

const ms = (t0: number) => performance.now() - t0;

function figure(name: string, samples: number[]) {
  process.stderr.write(`  ${name}: median ${median(samples).toFixed(1)} ms, p95 ${p95(samples).toFixed(1)} ms\n`);
  return { name, value: Math.round(median(samples) * 10) / 10, unit: 'ms', runs: samples.length };
}

export const modules: Benchmark = {
  name: 'modules',
  description: `install of a module with three tables and a hook; upgrade of a database holding ${ROWS} rows across one version bump (REST, one transaction each)`,
  async run(runs) {
    const b = await benchEngine();
    try {
      const install: number[] = [];
      const upgrade: number[] = [];
      for (let i = 0; i < runs; i++) {
        const { name } = await b.call('POST', '/v1/databases', { name: `bench_${i}` });
        let t0 = performance.now();
        await b.call('POST', `/v1/databases/${name}/modules`, { install: ['bench_three@0.1.0'] });
        install.push(ms(t0));

        const pool = b.engine.conns.pool(name);
        await pool.query(`insert into public.bench_item (name, size_bytes) select 'item ' || i, i * 1000 from generate_series(1, ${ROWS}) i`);
        await pool.query('vacuum analyze public.bench_item');
        t0 = performance.now();
        const report = await b.call('POST', `/v1/databases/${name}/upgrade`);
        upgrade.push(ms(t0));
        if (report.upgraded[0]?.to !== '0.2.0') throw new Error(`upgrade did not happen: ${JSON.stringify(report)}`);
        const { rows } = await pool.query('select count(*)::int as n from public.bench_item where size_kb is not null');
        if (rows[0].n !== ROWS) throw new Error(`expected ${ROWS} rows after upgrade, found ${rows[0].n}`);
        await b.call('DELETE', `/v1/databases/${name}`);
      }
      return [figure('modules.install', install), figure(`modules.upgrade_${ROWS / 1000}k_rows`, upgrade)];
    } finally {
      await b.stop();
    }
  },
};
