import * as fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { escapeIdentifier as ident } from 'pg';
import { DataSource } from 'typeorm';
import { resolveAdminToken } from './admin-token';
import { createApi } from './api/server';
import { perDatabaseConcurrency, QUOTA_DEFAULTS, type Config } from './config';
import { CreatedDatabase, DatabaseManager } from './databases/manager';
import { AWS_ENDPOINTS, writeSettings } from './databases/settings';
import { IasqlError, PG, pgCode } from './errors';
import { createHttpServer, listenHttp } from './http-server';
import { startLocalCloud, type LocalCloud } from './localcloud';
import type { Logger } from './logger';
import { metadataDataSource } from './metadata/data-source';
import { Connections } from './postgres/connections';
import { startEmbeddedPostgres } from './postgres/embedded';
import { lockArgs } from './postgres/lock-keys';
import { ephemeralAdvice } from './ports';
import { ModuleOperations } from './modules/operations';
import { BUILTIN_MODULES_DIR, ModuleRegistry } from './modules/registry';
import { Rollouts } from './rollouts/rollouts';
import { configureRpc, setupRpc } from './rpc/setup';
import { cloudImporter } from './commit/bind';
import { DEFAULT_COMMIT_OPTIONS } from './commit/change-sets';
import { EngineLiveness } from './rpc/liveness';
import { NotifyQueueGuard } from './rpc/notify-queue';
import { RpcWorker } from './rpc/worker';

export interface Engine {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8088. */
  apiUrl: string;
  /** Where tenants reach Postgres. */
  postgres: { host: string; port: number; embedded: boolean };
  /** Where the admin token came from: a file path or IASQL_ADMIN_TOKEN. */
  tokenSource: string;
  databases: DatabaseManager;
  registry: ModuleRegistry;
  modules: ModuleOperations;
  rollouts: Rollouts;
  /** The rpc worker of this process (undefined with IASQL_WORKER_CONCURRENCY=0). */
  worker?: RpcWorker;
  conns: Connections;
  /**
   * The local cloud's endpoint (AWS SDK `endpoint`, CLI `--endpoint-url`), when IASQL_LOCAL_CLOUD
   * is on, and its fault injection (for tests in this process: docs/local-cloud.md).
   */
  localCloud?: Pick<LocalCloud, 'endpoint' | 'faults'>;
  /** The default database created on this start, if it was the first start. */
  firstDatabase?: CreatedDatabase;
  /** File holding the first database's connection string (0600), when there is one. */
  firstDatabaseUrlFile?: string;
  /** Shell file (0600) exporting the first database's local-cloud credentials and endpoint, when there is one. */
  firstDatabaseAwsFile?: string;
  /**
   * Stops: takes no new calls, lets the running ones finish for up to IASQL_SHUTDOWN_GRACE_MS
   * (saying at WARN which), ends what is left (their callers get IQ005), then stops the rest.
   */
  stop(): Promise<void>;
  /** Ends the running calls now (a second Ctrl-C); a stop in progress then finishes at once. */
  stopNow(): void;
}

export const firstDatabaseUrlFile = (home: string, name: string) => path.join(home, 'databases', `${name}.url`);
export const firstDatabaseAwsFile = (home: string, name: string) => path.join(home, 'databases', `${name}.aws-env`);

/**
 * Starts everything in order: the module registry (refusing invalid modules), the local cloud
 * (unless IASQL_LOCAL_CLOUD is off), Postgres (embedded unless DATABASE_URL), the metadata
 * database and its migrations, the rpc queue, recovery of
 * interrupted creates and rollouts, each managed database's engine SQL and bootstrap modules, the
 * rpc worker, the REST API, and on first start a first managed database. Stops what it started if
 * any step fails.
 */
export async function startEngine(config: Config, logger: Logger): Promise<Engine> {
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      await fn().catch((err) => logger.error({ err: (err as Error).message }, 'error while stopping'));
    }
  };
  try {
    // A listening port in the ephemeral range works until an outgoing connection takes it first.
    for (const [name, port, used] of [
      ['IASQL_API_PORT', config.apiPort, true],
      ['IASQL_PG_PORT', config.pgPort, !config.databaseUrl],
      ['IASQL_LOCAL_CLOUD_PORT', config.localCloudPort, config.localCloud !== 'off'],
    ] as const) {
      const advice = used ? ephemeralAdvice(port) : '';
      if (advice) logger.warn({ [name]: port }, `${name}=${port}${advice}`);
    }
    // Modules first: a broken module stops the start before anything else happens.
    const registry = ModuleRegistry.load([BUILTIN_MODULES_DIR, ...config.modulePath]);
    fs.mkdirSync(config.home, { recursive: true, mode: 0o711 });
    // Before Postgres: a taken port (another engine's local cloud, or LocalStack, on 4566) then
    // stops the start with nothing to undo. Stopped last, after the worker whose handlers may use it.
    let localCloud: Engine['localCloud'];
    let accounts: LocalCloud['accounts'] | undefined;
    if (config.localCloud !== 'off') {
      const cloud = await startLocalCloud({
        dataDir: config.localCloud === 'disk' ? path.join(config.home, 'localcloud') : undefined,
        port: config.localCloudPort,
        logger,
        invoke: config.localCloudInvoke,
        propagationMs: config.localCloudPropagationMs,
      }).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EADDRINUSE'
          ? new IasqlError(
              'port_in_use',
              `port ${config.localCloudPort} on 127.0.0.1 (local cloud) is already in use${ephemeralAdvice(config.localCloudPort)}; set IASQL_LOCAL_CLOUD_PORT to another port, or IASQL_LOCAL_CLOUD=false`,
              500,
              { cause: err },
            )
          : err;
      });
      cleanups.push(() => cloud.stop());
      localCloud = { endpoint: cloud.endpoint, faults: cloud.faults };
      accounts = cloud.accounts;
    }
    let adminUrl: string;
    let embedded = false;
    if (config.databaseUrl) {
      adminUrl = config.databaseUrl;
    } else {
      const pg = await startEmbeddedPostgres({ home: config.home, port: config.pgPort, logger });
      cleanups.push(() => pg.stop());
      adminUrl = pg.adminUrl;
      embedded = true;
    }

    const conns = new Connections(adminUrl, logger);
    cleanups.push(() => conns.end());
    const maintenanceDb = decodeURIComponent(new URL(adminUrl).pathname.slice(1)) || 'postgres';
    // The admin credentials reach these two only; managed databases are reached as their engine roles.
    conns.allowAdmin(maintenanceDb);
    conns.allowAdmin(config.metadataDatabase);
    await ensureMetadataDatabase(conns, maintenanceDb, config.metadataDatabase, logger);
    await conns.close(maintenanceDb);
    // An engine that will take calls says so from here: a call made while it starts (or restarts)
    // waits for it instead of failing with "no iasql engine is running".
    let liveness: EngineLiveness | undefined;
    if (config.workerConcurrency > 0) {
      liveness = new EngineLiveness(conns, config.metadataDatabase, logger);
      await liveness.hold();
      cleanups.push(() => liveness!.release());
    }

    const meta = metadataDataSource(conns.settings(config.metadataDatabase));
    await meta.initialize();
    cleanups.push(() => meta.destroy());
    await migrateMetadata(conns, meta, config.metadataDatabase, logger);
    const rpc = await setupRpc(conns, config.metadataDatabase, logger);

    // Each needs the other: creating a database installs the bootstrap modules; module grants need the database's role.
    // AWS's own endpoints, the local cloud's and what the operator adds: nothing else may be an endpoint override.
    const allowedEndpoints = [...AWS_ENDPOINTS, ...(localCloud ? [localCloud.endpoint] : []), ...(config.allowedEndpoints ?? [])];
    // Each database has its own local-cloud account, made with it (or, for a database made while
    // the local cloud was off, on the first start that runs it) and removed with it.
    const localCloudAccount = async (db: string) => accounts!.get(db) ?? (await accounts!.create(db));
    const quotas = {
      maxTimeoutMs: config.rpcTimeoutMaxMs ?? QUOTA_DEFAULTS.rpcTimeoutMaxMs,
      maxArgsBytes: config.rpcMaxArgsBytes ?? QUOTA_DEFAULTS.rpcMaxArgsBytes,
    };
    const databases: DatabaseManager = new DatabaseManager(
      conns,
      meta,
      config.metadataDatabase,
      logger,
      async (db: string): Promise<void> => {
        await configureRpc(conns, db, rpc, await databases.queueCredentials(db), quotas);
        // What module SQL may read of the operator's choices: allowed endpoints, this database's local-cloud account.
        const account = localCloud ? await localCloudAccount(db) : undefined;
        const c = await conns.pool(db).connect();
        try {
          await writeSettings(c, { allowedEndpoints, localCloud: account && localCloud && { ...account, endpoint: localCloud.endpoint } });
        } finally {
          c.release();
        }
        await modules.ensureBootstrap(db);
      },
      {
        queueGroup: rpc.group,
        tenantConnectionLimit: config.tenantConnectionLimit ?? QUOTA_DEFAULTS.tenantConnectionLimit,
        // A minute above the longest call a tenant may ask for: a call is one statement of its caller's.
        tenantStatementTimeoutMs: quotas.maxTimeoutMs + 60_000,
      },
      accounts && { create: (db) => accounts!.create(db), remove: (db) => accounts!.remove(db) },
    );
    const commitOptions = { ...DEFAULT_COMMIT_OPTIONS, concurrency: config.commitConcurrency ?? DEFAULT_COMMIT_OPTIONS.concurrency };
    const modules: ModuleOperations = new ModuleOperations(registry, conns, (db: string): Promise<string> => databases.roleOf(db), logger);
    // Installing a cloud module imports what the cloud already has, in the install's transaction.
    modules.importer = cloudImporter(registry, logger, commitOptions);
    await databases.reconcile();
    await databases.upgradeAll();
    const rollouts = new Rollouts(meta, databases, modules, logger);
    await rollouts.recover();
    cleanups.push(() => rollouts.idle());

    let worker: RpcWorker | undefined;
    if (config.workerConcurrency > 0) {
      worker = new RpcWorker(conns, config.metadataDatabase, registry, modules, logger, {
        concurrency: config.workerConcurrency,
        historyDays: config.rpcHistoryDays,
        historyMax: config.rpcHistoryMax,
        perDatabase: perDatabaseConcurrency(config),
        maxResultBytes: config.rpcMaxResultBytes ?? QUOTA_DEFAULTS.rpcMaxResultBytes,
        commit: commitOptions,
      });
      await worker.start();
      cleanups.push(() => worker!.stop());
      const guard = new NotifyQueueGuard(conns, config.metadataDatabase, logger, config.notifyQueueGuard);
      guard.start();
      cleanups.push(() => guard.stop());
    }

    const { token, source: tokenSource } = resolveAdminToken(config.home, config.adminToken);
    const app = createApi({ token, databases, registry, modules, rollouts, conns, metadataDatabase: config.metadataDatabase, logger });
    const server = await listen(app, config.apiHost, config.apiPort, logger);
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    const apiUrl = `http://${config.apiHost.includes(':') ? `[${config.apiHost}]` : config.apiHost}:${port}`;

    const { firstDatabase, urlFile, awsFile } = await ensureFirstDatabase(config, databases, logger, localCloud?.endpoint);
    logger.info({ api: apiUrl, embedded, localCloud: localCloud?.endpoint }, 'engine started');
    return {
      apiUrl,
      postgres: { ...conns.endpoint, embedded },
      tokenSource,
      databases,
      registry,
      modules,
      rollouts,
      worker,
      conns,
      localCloud,
      firstDatabase,
      firstDatabaseUrlFile: urlFile,
      firstDatabaseAwsFile: awsFile,
      stop: async () => {
        conns.quiet(); // Postgres ending connections from here on is expected
        server.closeAllConnections?.();
        await liveness?.release();
        await worker?.stop(config.shutdownGraceMs ?? QUOTA_DEFAULTS.shutdownGraceMs);
        await stop();
      },
      stopNow: () => worker?.cutOff(),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function ensureMetadataDatabase(conns: Connections, maintenanceDb: string, name: string, logger: Logger) {
  const { rowCount } = await conns.query(maintenanceDb, 'select 1 from pg_database where datname = $1', [name]);
  if (!rowCount) {
    try {
      await conns.query(maintenanceDb, `create database ${ident(name)}`);
    } catch (err) {
      if (pgCode(err) !== PG.duplicateDatabase) throw err; // another engine created it first
    }
  }
  // Tenant roles must not reach the engine's own database, nor the server's: a tenant session in
  // template1 would make every CREATE DATABASE ... TEMPLATE template1 fail, and nothing of a
  // tenant's belongs in postgres.
  await conns.query(maintenanceDb, `revoke connect, temporary on database ${ident(name)} from public`);
  for (const db of new Set(['template1', 'postgres', maintenanceDb])) {
    await conns.query(maintenanceDb, `revoke connect, temporary on database ${ident(db)} from public`).catch((err: Error) =>
      logger.warn({ database: db, err: err.message }, 'could not revoke CONNECT from PUBLIC (the admin role does not own it); tenants may connect to it'),
    );
  }
  const { rows } = await conns.query<{ ok: boolean }>(maintenanceDb, `select count(*) > 0 as ok from pg_available_extensions where name = 'dblink'`);
  if (!rows[0].ok) {
    throw new IasqlError('dblink_missing', 'the Postgres server has no dblink extension; iasql needs Postgres 14+ with dblink (contrib)');
  }
}

/** Runs pending metadata migrations under a session advisory lock, so concurrent engines take turns. */
async function migrateMetadata(conns: Connections, meta: DataSource, database: string, logger: Logger) {
  const lock = await conns.dedicated(database);
  try {
    await lock.query(`select pg_advisory_lock(${lockArgs('metadataMigrations')})`);
    const ran = await meta.runMigrations({ transaction: 'all' });
    if (ran.length) logger.info({ migrations: ran.map((m) => m.name) }, 'metadata database migrated');
  } finally {
    await lock.end();
  }
}

/** On first start (no marker in home yet), creates the default database and saves its URL (0600). */
async function ensureFirstDatabase(config: Config, databases: DatabaseManager, logger: Logger, endpoint?: string) {
  const name = config.defaultDatabase;
  if (!name) return {};
  const urlFile = firstDatabaseUrlFile(config.home, name);
  const awsFile = firstDatabaseAwsFile(config.home, name);
  const existing = (f: string) => (fs.existsSync(f) ? f : undefined);
  const marker = path.join(config.home, 'first-database-created');
  if (fs.existsSync(marker)) return { urlFile: existing(urlFile), awsFile: existing(awsFile) };
  let firstDatabase: CreatedDatabase | undefined;
  try {
    firstDatabase = await databases.create(name);
  } catch (err) {
    if (!(err instanceof IasqlError && err.status === 409)) throw err;
    logger.info({ database: name }, 'default database already exists; not creating it');
  }
  if (firstDatabase) {
    fs.mkdirSync(path.dirname(urlFile), { recursive: true, mode: 0o700 });
    fs.writeFileSync(urlFile, firstDatabase.connectionString + '\n', { mode: 0o600 });
    const cloud = firstDatabase.localCloud;
    if (cloud && endpoint) {
      const lines = [`AWS_ACCESS_KEY_ID=${cloud.accessKeyId}`, `AWS_SECRET_ACCESS_KEY=${cloud.secretAccessKey}`, `AWS_ENDPOINT_URL=${endpoint}`, `AWS_REGION=us-east-1`, `AWS_DEFAULT_REGION=us-east-1`];
      fs.writeFileSync(awsFile, lines.map((l) => `export ${l}`).join('\n') + '\n', { mode: 0o600 });
    }
  }
  fs.writeFileSync(marker, new Date().toISOString() + '\n');
  return { firstDatabase, urlFile: existing(urlFile), awsFile: existing(awsFile) };
}

/** The REST API's bodies are at most 100 kB of JSON: a client that takes longer than this to send one is not sending it. */
const API_REQUEST_TIMEOUT_MS = 30_000;

async function listen(app: ReturnType<typeof createApi>, host: string, port: number, logger: Logger): Promise<Server> {
  const server = createHttpServer({ name: 'REST API', logger, requestTimeoutMs: API_REQUEST_TIMEOUT_MS }, app);
  try {
    await listenHttp(server, port, host, { name: 'REST API', logger });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new IasqlError('port_in_use', `port ${port} on ${host} is already in use${ephemeralAdvice(port)}; set IASQL_API_PORT to another port`);
    }
    throw err;
  }
  return server;
}
