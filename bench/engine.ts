import * as path from 'node:path';
import type { Config } from '../src/config';
import { startEngine } from '../src/engine';
import { createLogger } from '../src/logger';
import { startTemporaryPostgres } from '../src/postgres/embedded';
import { freePorts } from './ports';

/** An engine in this process, on a throw-away Postgres, with the benchmark modules loaded. */
export async function benchEngine(overrides: Partial<Config> = {}) {
  const [pgPort] = await freePorts(1);
  const logger = createLogger(process.env.BENCH_LOG_LEVEL || 'warn');
  const pg = await startTemporaryPostgres(pgPort, logger);
  const config: Config = {
    databaseUrl: pg.adminUrl,
    home: path.join(pg.home, 'engine'),
    apiHost: '127.0.0.1',
    apiPort: 0,
    pgPort,
    adminToken: 'bench-token-0123456789abcdef',
    modulePath: [path.join(__dirname, 'modules')],
    logLevel: 'warn',
    metadataDatabase: 'iasql_metadata',
    defaultDatabase: '',
    workerConcurrency: Number(process.env.IASQL_WORKER_CONCURRENCY || 10),
    rpcHistoryDays: 30,
    rpcHistoryMax: 10000,
    localCloud: 'off',
    localCloudPort: 0,
    ...overrides,
  };
  const engine = await startEngine(config, logger);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers of the REST API
  const call = async (method: string, route: string, body?: unknown): Promise<any> => {
    const res = await fetch(engine.apiUrl + route, {
      method,
      headers: { authorization: `Bearer ${config.adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
    const text = await res.text();
    return text ? JSON.parse(text) : undefined;
  };
  return {
    engine,
    call,
    async stop() {
      await engine.stop();
      await pg.stop();
    },
  };
}
