import { Router } from 'express';
import { z } from 'zod';
import { badRequest } from '../../errors';
import type { DatabaseManager } from '../../databases/manager';
import { NAME_RULE } from '../../databases/names';

const createBody = z.strictObject({ name: z.string({ error: `name is required: ${NAME_RULE}` }) });

/** Parses a JSON body with a schema; any mismatch is a 400 that says what was wrong. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('request body must be a JSON object (send Content-Type: application/json)');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    const message =
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}` : issue.message;
    throw badRequest(`${where}${message}`);
  }
  return parsed.data;
}

export function databaseRoutes(databases: DatabaseManager): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    const { name } = parseBody(createBody, req.body);
    res.status(201).json(await databases.create(name));
  });
  r.get('/', async (_req, res) => {
    res.json({ databases: await databases.list() });
  });
  r.get('/:name', async (req, res) => {
    res.json(await databases.get(req.params.name));
  });
  r.delete('/:name', async (req, res) => {
    await databases.drop(req.params.name);
    res.status(204).end();
  });
  return r;
}
