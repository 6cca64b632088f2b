import { route } from '../route';
import { ENGINE_VERSION } from '../../version';
import { Health, Version } from '../schemas';

export const systemRoutes = [
  route({
    method: 'get',
    path: '/health',
    operationId: 'getHealth',
    summary: 'Liveness and Postgres reachability (no token needed)',
    responses: {
      200: { description: 'Engine and Postgres are up', body: Health },
      503: { description: 'Postgres is unreachable', body: Health },
    },
    handler: async ({ deps }, reply) => {
      try {
        await deps.conns.query(deps.metadataDatabase, 'select 1');
        return reply(200, { status: 'ok', postgres: 'ok' });
      } catch {
        return reply(503, { status: 'unavailable', postgres: 'unreachable' });
      }
    },
  }),
  route({
    method: 'get',
    path: '/v1/version',
    operationId: 'getVersion',
    summary: 'Engine, Postgres and Node versions',
    responses: { 200: { description: 'Versions', body: Version } },
    handler: async ({ deps }, reply) => {
      const { rows } = await deps.conns.query<{ v: string }>(deps.metadataDatabase, "select current_setting('server_version') as v");
      return reply(200, { version: ENGINE_VERSION, postgres: rows[0].v, node: process.version });
    },
  }),
];
