import { z } from 'zod';
import type { Rollout as RolloutRow } from '../../metadata/entities/rollout';
import { error, route } from '../route';
import { Rollout, Strategy } from '../schemas';

const view = (r: RolloutRow): z.input<typeof Rollout> => ({
  id: r.id,
  strategy: r.strategy,
  status: r.status,
  createdAt: r.createdAt.toISOString(),
  finishedAt: r.finishedAt ? r.finishedAt.toISOString() : null,
  databases: r.databases,
});

export const rolloutRoutes = [
  route({
    method: 'post',
    path: '/v1/rollouts',
    operationId: 'startRollout',
    summary: 'Upgrade every managed database, in the background',
    description:
      'all-at-once upgrades all databases concurrently; one-at-a-time upgrades them in name order, checks each is healthy, and stops at the first failure leaving the rest untouched.',
    body: z.strictObject({ strategy: Strategy }),
    responses: {
      202: { description: 'Started; poll the Location', body: Rollout, headers: { Location: 'The rollout, /v1/rollouts/{id}' } },
      400: error('Bad strategy'),
    },
    handler: async ({ body, deps }, reply) => {
      const started = await deps.rollouts.start(body.strategy);
      return reply(202, view(started), { Location: `/v1/rollouts/${started.id}` });
    },
  }),
  route({
    method: 'get',
    path: '/v1/rollouts',
    operationId: 'listRollouts',
    summary: 'The latest 100 rollouts, newest first',
    responses: { 200: { description: 'Rollouts', body: z.object({ rollouts: z.array(Rollout) }) } },
    handler: async ({ deps }, reply) => reply(200, { rollouts: (await deps.rollouts.list()).map(view) }),
  }),
  route({
    method: 'get',
    path: '/v1/rollouts/{id}',
    operationId: 'getRollout',
    summary: 'Progress of a rollout, per database',
    params: z.object({ id: z.string().meta({ format: 'uuid' }) }),
    responses: {
      200: { description: 'The rollout', body: Rollout },
      400: error('Not a UUID'),
      404: error('No such rollout'),
    },
    handler: async ({ params, deps }, reply) => reply(200, view(await deps.rollouts.get(params.id))),
  }),
];
