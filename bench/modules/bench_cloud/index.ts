import type { CloudEntity, Row } from '../../../src/commit/types';
import { defineModule } from '../../../src/modules/define';

/**
 * A cloud in this process for the commit benchmark at scale (10,000 resources would take a real
 * emulator minutes to create): a map per database, answering at once. What it measures is the
 * engine's own cost per change: planning, applying, writing back.
 */
export function benchCloud(database: string): Map<string, Row> {
  const g = globalThis as unknown as { __iasqlBenchCloud?: Map<string, Map<string, Row>> };
  g.__iasqlBenchCloud ??= new Map();
  let m = g.__iasqlBenchCloud.get(database);
  if (!m) g.__iasqlBenchCloud.set(database, (m = new Map()));
  return m;
}

let next = 1;
const resource: CloudEntity = {
  table: 'bench_resource',
  id: ['name'],
  service: 'bench',
  cloudColumns: ['cloud_id'],
  read: async (ctx, id) => {
    const r = benchCloud(ctx.database).get(String(id.name));
    return r ? { ...r } : undefined;
  },
  readAll: async (ctx) => [...benchCloud(ctx.database).values()].map((r) => ({ ...r })),
  create: async (ctx, row) => {
    const r = { name: row.name, size: row.size, cloud_id: `bench-${next++}` };
    benchCloud(ctx.database).set(String(row.name), r);
    return { ...r };
  },
  update: async (ctx, row) => {
    const r = benchCloud(ctx.database).get(String(row.name))!;
    r.size = row.size;
    return { ...r };
  },
  delete: async (ctx, row) => void benchCloud(ctx.database).delete(String(row.name)),
};

export default defineModule({
  name: 'bench_cloud',
  description: 'Benchmark: rows mapped to an in-process cloud',
  dir: __dirname,
  versions: [{ version: '0.1.0', cloud: [resource] }],
});
