import { z } from 'zod';
import { error, route } from '../route';
import { DatabaseName } from '../schemas';

export const Progress = z.object({ total: z.number().int(), applied: z.number().int(), running: z.array(z.string()) });
const Commit = z
  .object({
    id: z.number().int(),
    status: z.enum(['open', 'committing', 'committed', 'failed', 'rolled_back']).describe('`committing` with no engine working on it means it was interrupted: iasql_rollback() recovers'),
    message: z.string().nullable(),
    openedBy: z.string(),
    openedAt: z.iso.datetime(),
    closedAt: z.iso.datetime().nullable(),
    progress: Progress.nullable().describe('While committing: operations applied of the total, and what runs now'),
    result: z.unknown().describe('Committed: the operations done (as iasql_commit returns them). Failed: the failures, with cloud error codes'),
  });

export const commitRoutes = [
  route({
    method: 'get',
    path: '/v1/databases/{name}/commits',
    operationId: 'listCommits',
    summary: "A database's change sets: the current one (open or committing, with progress) and the 20 before it",
    params: z.object({ name: DatabaseName }),
    responses: {
      200: { description: 'Change sets, newest first', body: z.object({ commits: z.array(Commit) }) },
      400: error('Invalid name'),
      404: error('No such managed database'),
      409: error('The database is being created or dropped'),
    },
    handler: async ({ params, deps }, reply) => {
      const db = await deps.databases.ready(params.name);
      const { rows } = await deps.conns.query<{
        id: number;
        status: z.infer<typeof Commit>['status'];
        message: string | null;
        opened_by: string;
        opened_at: Date;
        closed_at: Date | null;
        progress: z.infer<typeof Progress> | null;
        result: unknown;
      }>(db.name, `select id, status, message, opened_by, opened_at, closed_at, progress, result from iasql_engine.iasql_change_set order by id desc limit 21`);
      return reply(200, {
        commits: rows.map((r) => ({
          id: r.id,
          status: r.status,
          message: r.message,
          openedBy: r.opened_by,
          openedAt: r.opened_at.toISOString(),
          closedAt: r.closed_at?.toISOString() ?? null,
          progress: r.progress,
          result: r.result ?? null,
        })),
      });
    },
  }),
];
