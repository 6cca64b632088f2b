import express from 'express';
import type { Connections } from '../postgres/connections';
import type { DatabaseManager } from '../databases/manager';
import type { Logger } from '../logger';
import type { ModuleOperations } from '../modules/operations';
import type { ModuleRegistry } from '../modules/registry';
import type { Rollouts } from '../rollouts/rollouts';
import { requireToken } from './auth';
import { errorHandler, unknownRoute } from './errors';
import { withOpenApi } from './openapi';
import { mount, TOKEN_PREFIX } from './route';
import { commitRoutes } from './routes/commits';
import { databaseRoutes } from './routes/databases';
import { moduleRoutes } from './routes/modules';
import { rolloutRoutes } from './routes/rollouts';
import { statusRoutes } from './routes/status';
import { systemRoutes } from './routes/system';

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

/** Every route of the API, each declared once: mounted from this table and documented from it (GET /openapi.json). */
export const apiRoutes = withOpenApi([...systemRoutes, ...statusRoutes, ...databaseRoutes, ...moduleRoutes, ...commitRoutes, ...rolloutRoutes]);

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

  app.use(TOKEN_PREFIX, requireToken(deps.token), express.json({ limit: '100kb' }));
  mount(app, apiRoutes, deps);

  app.use(unknownRoute);
  app.use(errorHandler(logger));
  return app;
}
