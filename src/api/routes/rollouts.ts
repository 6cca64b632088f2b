import { Router } from 'express';
import { z } from 'zod';
import type { Rollout } from '../../metadata/entities/rollout';
import { Rollouts, STRATEGIES } from '../../rollouts/rollouts';
import { parseBody } from './databases';

const startBody = z.strictObject({
  strategy: z.enum(STRATEGIES as [string, ...string[]], { error: `strategy must be one of ${STRATEGIES.map((s) => `"${s}"`).join(', ')}` }),
});

const view = (r: Rollout) => ({
  id: r.id,
  strategy: r.strategy,
  status: r.status,
  createdAt: r.createdAt.toISOString(),
  finishedAt: r.finishedAt ? r.finishedAt.toISOString() : null,
  databases: r.databases,
});

export function rolloutRoutes(rollouts: Rollouts): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const { strategy } = parseBody(startBody, req.body);
    const started = await rollouts.start(strategy as Rollout['strategy']);
    res.status(202).location(`/v1/rollouts/${started.id}`).json(view(started));
  });
  r.get('/', async (_req, res) => {
    res.json({ rollouts: (await rollouts.list()).map(view) });
  });
  r.get('/:id', async (req, res) => {
    res.json(view(await rollouts.get(req.params.id)));
  });
  return r;
}
