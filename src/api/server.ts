import express from 'express';
import type { Connections } from '../postgres/connections';
import type { DatabaseManager } from '../databases/manager';
import type { Logger } from '../logger';
import type { ModuleOperations } from '../modules/operations';
import type { ModuleRegistry } from '../modules/registry';
import type { Rollouts } from '../rollouts/rollouts';
import { ENGINE_VERSION } from '../version';
import { requireToken } from './auth';
import { errorHandler, unknownRoute } from './errors';
import { openApiDocument } from './openapi';
import { databaseRoutes } from './routes/databases';
import { moduleRoutes } from './routes/modules';
import { rolloutRoutes } from './routes/rollouts';

export interface ApiDeps {
  token: string;
  databases: DatabaseManager;
  registry: ModuleRegistry;
  modules: ModuleOperations;
  rollouts: Rollouts;
  conns: Connections;
  metadataDatabase: string;
  logger: Logger;
}

/** The REST admin API. Everything under /v1 needs the admin token. */
export function createApi(deps: ApiDeps): express.Express {
  const { logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Access log: method, path, status, time. Never headers or bodies (they carry tokens and passwords).
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'http');
    });
    next();
  });

  app.get('/health', async (_req, res) => {
    try {
      await deps.conns.query(deps.metadataDatabase, 'select 1');
      res.json({ status: 'ok', postgres: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable', postgres: 'unreachable' });
    }
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });

  const v1 = express.Router();
  v1.use(requireToken(deps.token));
  v1.use(express.json({ limit: '100kb' }));
  v1.get('/version', async (_req, res) => {
    const { rows } = await deps.conns.query<{ v: string }>(deps.metadataDatabase, "select current_setting('server_version') as v");
    res.json({ version: ENGINE_VERSION, postgres: rows[0].v, node: process.version });
  });
  v1.use('/databases', databaseRoutes(deps.databases));
  v1.use(moduleRoutes(deps.registry, deps.modules, deps.databases));
  v1.use('/rollouts', rolloutRoutes(deps.rollouts));
  app.use('/v1', v1);

  app.use(unknownRoute);
  app.use(errorHandler(logger));
  return app;
}
