import { z } from 'zod';
import { route } from '../route';
import { Progress } from './commits';
import { ENGINE_VERSION } from '../../version';

const Call = z.object({ id: z.string(), method: z.string().describe('module.method'), status: z.enum(['queued', 'running']), since: z.iso.datetime() });

const DatabaseStatus = z.object({
  name: z.string(),
  status: z.enum(['creating', 'ready', 'dropping']),
  modules: z.array(z.string()).describe('Installed modules as name@version'),
  calls: z.array(Call).describe('rpc calls queued or running now'),
  commit: z
    .object({ id: z.number().int(), status: z.enum(['open', 'committing']), openedBy: z.string(), progress: Progress.nullable() })
    .nullable()
    .describe('The change set open or being committed now, if any'),
  problem: z.string().optional().describe('Why the rest could not be read (the database is not served now, say)'),
});

export const Status = z.object({
  engine: z.object({ version: z.string(), pid: z.number().int(), uptimeSeconds: z.number().int() }),
  queue: z.object({
    queued: z.number().int().describe('Calls waiting to start, every database'),
    running: z.number().int().describe('Calls running now, every database'),
    jobs: z.number().int().describe('graphile-worker rpc jobs waiting or running'),
  }),
  databases: z.array(DatabaseStatus),
});

export const statusRoutes = [
  route({
    method: 'get',
    path: '/v1/status',
    operationId: 'getStatus',
    summary: 'What the engine is doing: the queue, and per database its modules, calls and commit',
    description: 'What `iasql status` prints. Each database is read on its own: one that cannot be read says why and the others are still listed.',
    responses: { 200: { description: 'The engine and every managed database', body: Status } },
    handler: async ({ deps }, reply) => {
      const calls = (
        await deps.conns.query<{ id: string; database: string; module: string; method: string; status: 'queued' | 'running'; since: Date }>(
          deps.metadataDatabase,
          `select id::text, database, module, method, status, coalesce(started_at, created_at) as since
             from public.rpc_call where status in ('queued', 'running') order by id`,
        )
      ).rows;
      const jobs = Number(
        (await deps.conns.query<{ n: string }>(deps.metadataDatabase, `select count(*) as n from graphile_worker.jobs where task_identifier = 'rpc'`)).rows[0].n,
      );
      const databases = await Promise.all(
        (await deps.databases.list()).map(async (db): Promise<z.infer<typeof DatabaseStatus>> => {
          const own = calls
            .filter((c) => c.database === db.name)
            .map((c) => ({ id: c.id, method: `${c.module}.${c.method}`, status: c.status, since: c.since.toISOString() }));
          const base = { name: db.name, status: db.status, modules: [] as string[], calls: own, commit: null };
          if (db.status !== 'ready') return base;
          try {
            await deps.databases.ready(db.name);
            const modules = (await deps.modules.installed(db.name)).map((m) => `${m.name}@${m.version}`);
            const open = (
              await deps.conns.query<{ id: number; status: 'open' | 'committing'; opened_by: string; progress: z.infer<typeof Progress> | null }>(
                db.name,
                `select id, status, opened_by, progress from iasql_engine.iasql_change_set where status in ('open', 'committing') order by id desc limit 1`,
              )
            ).rows[0];
            return { ...base, modules, commit: open ? { id: open.id, status: open.status, openedBy: open.opened_by, progress: open.progress ?? null } : null };
          } catch (err) {
            return { ...base, problem: (err as Error).message };
          }
        }),
      );
      return reply(200, {
        engine: { version: ENGINE_VERSION, pid: process.pid, uptimeSeconds: Math.round(process.uptime()) },
        queue: { queued: calls.filter((c) => c.status === 'queued').length, running: calls.filter((c) => c.status === 'running').length, jobs },
        databases,
      });
    },
  }),
];
