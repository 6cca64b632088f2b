import { createLogger } from '../../src/logger';
import { startTemporaryPostgres } from '../../src/postgres/embedded';
import { freePort } from './free-port';

/** One real Postgres (its URL reaches the test workers through the environment) for the whole run, started with the engine's own embedded-Postgres code. */
export default async function globalSetup() {
  const port = await freePort();
  const pg = await startTemporaryPostgres(port, createLogger('warn'));
  process.env.IASQL_TEST_DATABASE_URL = pg.adminUrl;
  process.env.IASQL_TEST_PG_LOG = `${pg.home}/postgres.log`;
  (globalThis as Record<string, unknown>).__IASQL_PG__ = pg;
}
