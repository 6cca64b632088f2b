import { escapeIdentifier as ident, escapeLiteral as literal, PoolClient } from 'pg';
import { DataSource, In, IsNull, Not, Repository } from 'typeorm';
import { conflict, IasqlError, notFound, PG, pgCode } from '../errors';
import type { Logger } from '../logger';
import { ManagedDatabase } from '../metadata/entities/managed-database';
import type { Connections } from '../postgres/connections';
import { ENGINE_VERSION } from '../version';
import { ENGINE_SEARCH_PATH } from '../postgres/connections';
import { databaseNameLockArgs } from '../postgres/lock-keys';
import { generatePassword, generateRoleNames, scramVerifier } from './credentials';
import { applyEngineSql, ENGINE_SCHEMA, grantEngineSchema } from './engine-sql';
import { checkDatabaseName, reservedNames } from './names';

/** What a create returns, once: the password is not stored anywhere. */
export interface CreatedDatabase {
  name: string;
  user: string;
  password: string;
  connectionString: string;
  /** The database's own local-cloud account, when the engine runs the local cloud. */
  localCloud?: LocalCloudAccount;
}

/** A local-cloud account of one database: its key pair signs the AWS SDK's and CLI's requests. */
export interface LocalCloudAccount {
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** What the manager needs of the local cloud: an account per database, made and removed with it. */
export interface LocalCloudAccounts {
  create(database: string): Promise<LocalCloudAccount>;
  remove(database: string): Promise<void>;
}

export interface DatabaseManagerOptions {
  /** The group role whose members may use the rpc queue functions (src/rpc/setup.ts). */
  queueGroup: string;
  /** CONNECTION LIMIT of each tenant role (and of its queue role). */
  tenantConnectionLimit: number;
  /**
   * The tenant role's default statement_timeout in its database, in ms: above the longest rpc
   * call a tenant may ask for (a call is one statement of its caller's).
   */
  tenantStatementTimeoutMs: number;
}

/**
 * How long a tenant session may sit idle inside a transaction (its role's default). A session
 * that LISTENs and then parks in a transaction holds the server-wide NOTIFY queue's tail; with
 * this and statement_timeout no session parks for ever by accident (a hostile one can SET them
 * back: src/rpc/notify-queue.ts deals with that).
 */
export const TENANT_IDLE_IN_TRANSACTION_TIMEOUT = '10min';

export interface DatabaseInfo {
  name: string;
  user: string;
  status: ManagedDatabase['status'];
  engineVersion: string;
  createdAt: string;
}

/** The password columns are not selected unless asked for. */
const SECRET_COLUMNS = {
  name: true, roleName: true, engineRole: true, enginePassword: true, queueRole: true, queuePassword: true,
  status: true, engineVersion: true, createdAt: true, updatedAt: true,
} as const;

const rolesOf = (d: ManagedDatabase) => ({ tenant: d.roleName, engine: d.engineRole ?? undefined, queue: d.queueRole ?? undefined });

/** Why a database made by an earlier engine is not served, and what to do. */
export const LEGACY_MESSAGE = (what: string) =>
  `${what} was made by an earlier iasql engine (owned by its tenant role) and is not served by this one: ` +
  `export what you need (pg_dump of your tables, or SELECT * FROM iasql_get_sql_since() on the earlier engine), ` +
  `then DELETE /v1/databases/<name> (or iasql db drop <name>) and create it again (docs/security.md, "Databases made by earlier engines")`;

const toInfo = (d: ManagedDatabase): DatabaseInfo => ({
  name: d.name,
  user: d.roleName,
  status: d.status,
  engineVersion: d.engineVersion,
  createdAt: d.createdAt.toISOString(),
});

/**
 * Managed databases: one Postgres database per tenant, owned by a login role of its own that is
 * neither superuser nor allowed to create roles or databases, and that can connect to nothing
 * else the engine manages. The registry lives in the metadata database.
 *
 * Every create and drop holds a session advisory lock on the database's name, so an engine that
 * starts while another one is mid-create does not mistake that work for the debris of a crash.
 */
export class DatabaseManager {
  private readonly reserved: Set<string>;
  /** Databases whose preparation at start failed (name -> why): not served until the next start. */
  private readonly unprepared = new Map<string, string>();
  private readonly repo: Repository<ManagedDatabase>;

  constructor(
    private readonly conns: Connections,
    meta: DataSource,
    private readonly metadataDatabase: string,
    private readonly logger: Logger,
    /** Brings a database's engine-owned parts up to date after its engine SQL (bootstrap modules). */
    private readonly prepare: (database: string) => Promise<void>,
    private readonly options: DatabaseManagerOptions,
    private readonly localCloud?: LocalCloudAccounts,
  ) {
    this.reserved = reservedNames(metadataDatabase);
    this.repo = meta.getRepository(ManagedDatabase);
    // A database another engine created after this one started: its role is in the registry.
    conns.resolveWith(async (name) => {
      if (this.unprepared.has(name)) return undefined;
      const db = await this.repo.findOne({ where: { name, status: 'ready' }, select: SECRET_COLUMNS });
      return db?.engineRole && db.enginePassword ? { user: db.engineRole, password: db.enginePassword } : undefined;
    });
  }

  async create(rawName: unknown): Promise<CreatedDatabase> {
    const name = checkDatabaseName(rawName, this.reserved);
    const roles = generateRoleNames();
    const user = roles.tenant;
    const password = generatePassword();
    const engine = { user: roles.engine, password: generatePassword() };
    const queue = { user: roles.queue, password: generatePassword() };
    // The registry row comes first: its primary key settles concurrent creates of one name.
    try {
      await this.repo.insert({
        name,
        roleName: user,
        engineRole: engine.user,
        enginePassword: engine.password,
        queueRole: queue.user,
        queuePassword: queue.password,
        status: 'creating',
        engineVersion: ENGINE_VERSION,
      });
    } catch (err) {
      if (pgCode(err) === PG.uniqueViolation) throw conflict(`database '${name}' already exists`);
      throw err;
    }
    const started = Date.now();
    const c = await this.conns.pool(this.metadataDatabase).connect();
    let cloud: CreatedDatabase['localCloud'];
    try {
      await this.lock(c, name);
      // Cleanup removes only what this create made: never a database someone else owns.
      let madeDatabase = false;
      try {
        const login = `login nosuperuser nocreatedb nocreaterole noreplication`;
        const limit = this.options.tenantConnectionLimit;
        await c.query(`create role ${ident(user)} ${login} connection limit ${limit} password ${literal(scramVerifier(password))}`);
        await c.query(`create role ${ident(engine.user)} ${login} password ${literal(scramVerifier(engine.password))}`);
        // One dblink connection per tenant backend that calls rpc: the same limit as the tenant's.
        await c.query(`create role ${ident(queue.user)} ${login} connection limit ${limit} password ${literal(scramVerifier(queue.password))}`);
        await c.query(`grant ${ident(this.options.queueGroup)} to ${ident(queue.user)}`);
        // Enqueue and status rows are state of calls in flight: no WAL flush wait (see RpcWorker.queue).
        await c.query(`alter role ${ident(queue.user)} in database ${ident(this.metadataDatabase)} set synchronous_commit = off`);
        if (!(await this.isSuperuser(c))) await c.query(`grant ${ident(user)}, ${ident(engine.user)} to current_user`);
        // Engine sessions resolve nothing a tenant can create, whichever way they connect.
        await c.query(`alter role ${ident(engine.user)} set search_path = ${ENGINE_SEARCH_PATH}`);
        try {
          // template0: nothing a tenant may have put into template1 is copied (and a tenant
          // session in template1 cannot make the create fail).
          await c.query(`create database ${ident(name)} owner ${ident(engine.user)} template template0`);
          madeDatabase = true;
        } catch (err) {
          if (pgCode(err) === PG.duplicateDatabase) {
            throw conflict(`a database named '${name}' already exists on the Postgres server but is not managed by iasql; choose another name`);
          }
          throw err;
        }
        await c.query(`revoke connect, temporary on database ${ident(name)} from public`);
        // The tenant finds the engine's tables by their plain names. Set for the tenant's role only:
        // another role's session (an operator's) must not resolve names through public first.
        await c.query(`alter role ${ident(user)} in database ${ident(name)} set search_path = "$user", public, ${ENGINE_SCHEMA}`);
        await this.limitTenantSessions(c, name, user);
        await this.provision(name, roles);
        this.conns.register(name, engine);
        const tenant = await this.conns.pool(name).connect();
        try {
          await applyEngineSql(tenant);
          await grantEngineSchema(tenant, user);
        } finally {
          tenant.release();
        }
        if (this.localCloud) cloud = await this.localCloud.create(name);
        await this.prepare(name);
        // Last: the tenant can connect only to a finished database.
        await c.query(`grant connect, temporary on database ${ident(name)} to ${ident(user)}`);
        await this.repo.update({ name }, { status: 'ready' });
      } catch (err) {
        await this.remove(c, name, roles, { keepDatabase: !madeDatabase }).catch((cleanupErr) =>
          this.logger.error({ database: name, err: (cleanupErr as Error).message }, 'cleanup after failed create failed'),
        );
        if (err instanceof IasqlError) throw err;
        throw new IasqlError('create_failed', `could not create database '${name}': ${(err as Error).message}; nothing was left behind`, 500, { cause: err });
      } finally {
        await this.unlock(c, name);
      }
    } finally {
      c.release();
    }
    this.logger.info({ database: name, user, ms: Date.now() - started }, 'database created');
    const { host, port } = this.conns.endpoint;
    return {
      name,
      user,
      password,
      connectionString: `postgres://${user}:${encodeURIComponent(password)}@${host}:${port}/${name}`,
      ...(cloud ? { localCloud: { accountId: cloud.accountId, accessKeyId: cloud.accessKeyId, secretAccessKey: cloud.secretAccessKey } } : {}),
    };
  }

  /**
   * As the admin, inside the new database before anyone else may connect to it: `public` belongs
   * to the engine role (the tenant keeps USAGE and CREATE for its own objects), and the engine's
   * private schema holds dblink (an untrusted extension, which only the admin may create).
   */
  private async provision(name: string, roles: { tenant: string; engine: string }) {
    const admin = await this.conns.dedicatedAdmin(name);
    try {
      await admin.query(`alter schema public owner to ${ident(roles.engine)}`);
      await admin.query(`revoke all on schema public from public`);
      await admin.query(`grant usage, create on schema public to ${ident(roles.tenant)}`);
      await admin.query(`create schema iasql_internal authorization ${ident(roles.engine)}`);
      await admin.query(`create extension dblink schema iasql_internal`);
      await admin.query(`revoke all on all functions in schema iasql_internal from public`);
      await admin.query(`grant execute on all functions in schema iasql_internal to ${ident(roles.engine)}`);
    } finally {
      await admin.end();
    }
  }

  /** Ready databases this engine serves (not those made by earlier engines), by name. */
  async served(): Promise<DatabaseInfo[]> {
    const ready = await this.repo.find({ where: { status: 'ready', engineRole: Not(IsNull()) }, order: { name: 'ASC' } });
    return ready.filter((d) => !this.unprepared.has(d.name)).map(toInfo);
  }

  async list(): Promise<DatabaseInfo[]> {
    return (await this.repo.find({ order: { name: 'ASC' } })).map(toInfo);
  }

  async get(rawName: unknown): Promise<DatabaseInfo> {
    return toInfo(await this.find(rawName));
  }

  /** The login role of a database (in any state). */
  async roleOf(rawName: unknown): Promise<string> {
    return (await this.find(rawName)).roleName;
  }

  /** The database, which must be ready (not being created or dropped) and made by this engine's model. */
  async ready(rawName: unknown): Promise<DatabaseInfo> {
    const db = await this.find(rawName);
    if (db.status !== 'ready') throw conflict(`database '${db.name}' is ${db.status === 'creating' ? 'being created' : 'being dropped'}; try again in a moment`);
    if (!db.engineRole) throw conflict(LEGACY_MESSAGE(`database '${db.name}'`));
    const why = this.unprepared.get(db.name);
    if (why) throw conflict(`database '${db.name}' could not be prepared when the engine started (${why}); it is served again after the next start that succeeds`);
    await this.conns.ensure(db.name);
    return toInfo(db);
  }

  /** Ends the database's sessions, drops database and role, removes the record. */
  async drop(rawName: unknown): Promise<void> {
    const db = await this.find(rawName);
    if (db.status === 'creating') throw conflict(`database '${db.name}' is still being created; try again in a moment`);
    const c = await this.conns.pool(this.metadataDatabase).connect();
    try {
      if (!(await this.tryLock(c, db.name))) throw conflict(`database '${db.name}' is busy (being created or dropped); try again in a moment`);
      try {
        await this.repo.update({ name: db.name }, { status: 'dropping' });
        await this.remove(c, db.name, rolesOf(db));
      } finally {
        await this.unlock(c, db.name);
      }
    } finally {
      c.release();
    }
    this.logger.info({ database: db.name }, 'database dropped');
  }

  /**
   * Gives the tenant role a new password and returns it (once: only its SCRAM verifier is kept).
   * Sessions already connected keep working; new ones need the new password. For a lost
   * connection string, instead of dropping and re-creating the database.
   */
  async rotatePassword(rawName: unknown): Promise<Omit<CreatedDatabase, 'localCloud'>> {
    const found = await this.find(rawName);
    if (found.status !== 'ready') throw conflict(`database '${found.name}' is ${found.status === 'creating' ? 'being created' : 'being dropped'}; try again in a moment`);
    const db = toInfo(found);
    const password = generatePassword();
    const c = await this.conns.pool(this.metadataDatabase).connect();
    try {
      if (!(await this.tryLock(c, db.name))) throw conflict(`database '${db.name}' is busy (being created or dropped); try again in a moment`);
      try {
        await c.query(`alter role ${ident(db.user)} password ${literal(scramVerifier(password))}`);
      } finally {
        await this.unlock(c, db.name);
      }
    } finally {
      c.release();
    }
    this.logger.info({ database: db.name, user: db.user }, 'tenant password changed');
    const { host, port } = this.conns.endpoint;
    return { name: db.name, user: db.user, password, connectionString: `postgres://${db.user}:${encodeURIComponent(password)}@${host}:${port}/${db.name}` };
  }

  /**
   * Finishes what a killed engine left: a create or drop that was under way when it died is
   * rolled back (database, role and record removed). Returns the names it cleaned.
   */
  async reconcile(): Promise<string[]> {
    const stale = await this.repo.find({ where: { status: In(['creating', 'dropping']) } });
    const cleaned: string[] = [];
    for (const db of stale) {
      const c = await this.conns.pool(this.metadataDatabase).connect();
      try {
        if (!(await this.tryLock(c, db.name))) continue; // another engine is working on it
        try {
          await this.remove(c, db.name, rolesOf(db));
          cleaned.push(db.name);
        } finally {
          await this.unlock(c, db.name);
        }
      } finally {
        c.release();
      }
    }
    if (cleaned.length) this.logger.warn({ databases: cleaned }, 'removed databases left half-created or half-dropped by an earlier run');
    return cleaned;
  }

  /**
   * At start: registers the engine role of every ready database with the connection manager and
   * brings its engine SQL up to this engine's version. Databases made by an earlier engine (owned
   * by their tenant, no engine role) are not touched, as the admin or otherwise: they are listed
   * with what to do (docs/security.md says why they are not migrated in place).
   */
  async upgradeAll(): Promise<void> {
    const all = await this.repo.find({ where: { status: 'ready' }, select: SECRET_COLUMNS });
    const legacy = all.filter((db) => !db.engineRole).map((db) => db.name);
    if (legacy.length) {
      this.logger.warn({ databases: legacy }, `${LEGACY_MESSAGE('these databases')}`);
    }
    const admin = await this.conns.pool(this.metadataDatabase).connect();
    try {
      // Databases made before these defaults existed get them too (and a changed ceiling): read
      // once, changed only where they differ, so a start costs no statement per database.
      const { rows } = await admin.query<{ role: string; database: string; config: string[] }>(
        `select r.rolname as role, d.datname as database, s.setconfig as config
           from pg_catalog.pg_db_role_setting s
           join pg_catalog.pg_roles r on r.oid = s.setrole
           join pg_catalog.pg_database d on d.oid = s.setdatabase`,
      );
      const has = new Map(rows.map((r) => [`${r.role}/${r.database}`, r.config]));
      for (const db of all.filter((d) => d.engineRole)) {
        const config = has.get(`${db.roleName}/${db.name}`) ?? [];
        if (!this.tenantSessionSettings().every((setting) => config.includes(setting))) await this.limitTenantSessions(admin, db.name, db.roleName);
      }
    } finally {
      admin.release();
    }
    for (const db of all.filter((d) => d.engineRole)) {
      this.conns.register(db.name, { user: db.engineRole!, password: db.enginePassword! });
      // One database that cannot be prepared (a tenant's session holding locks the engine SQL
      // needs, a damaged database) is left unserved until the next start, not the whole engine.
      try {
        const c = await this.conns.pool(db.name).connect();
        try {
          const ran = await applyEngineSql(c);
          await grantEngineSchema(c, db.roleName);
          await this.prepare(db.name);
          if (ran > 0 || db.engineVersion !== ENGINE_VERSION) {
            await this.repo.update({ name: db.name }, { engineVersion: ENGINE_VERSION });
            this.logger.info({ database: db.name, files: ran }, 'engine SQL brought up to date');
          }
        } finally {
          c.release();
        }
        this.unprepared.delete(db.name);
      } catch (err) {
        this.unprepared.set(db.name, (err as Error).message);
        await this.conns.close(db.name);
        this.conns.forget(db.name);
        this.logger.error({ database: db.name, err: (err as Error).message }, 'could not prepare this database at start; it is not served until the engine starts again');
      }
    }
  }

  /** The queue credentials of a ready database (for its iasql_internal.rpc_config). */
  async queueCredentials(name: string): Promise<{ user: string; password: string }> {
    const db = await this.repo.findOne({ where: { name }, select: SECRET_COLUMNS });
    if (!db?.queueRole || !db.queuePassword) throw new Error(`database '${name}' has no queue role`);
    return { user: db.queueRole, password: db.queuePassword };
  }

  private async find(rawName: unknown): Promise<ManagedDatabase> {
    const name = checkDatabaseName(rawName, new Set());
    const db = await this.repo.findOneBy({ name });
    if (!db) throw notFound(`database '${name}' does not exist; iasql db list (GET /v1/databases) lists the managed databases`);
    return db;
  }

  private async remove(c: PoolClient, name: string, roles: Partial<ReturnType<typeof generateRoleNames>>, opts: { keepDatabase?: boolean } = {}) {
    await this.conns.close(name);
    this.conns.forget(name);
    if (!opts.keepDatabase) await c.query(`drop database if exists ${ident(name)} with (force)`);
    for (const role of [roles.tenant, roles.engine, roles.queue]) {
      if (role) await c.query(`drop role if exists ${ident(role)}`);
    }
    // A new database of the same name gets a new account: nothing of this one's cloud is inherited.
    if (this.localCloud) await this.localCloud.remove(name);
    await this.repo.delete({ name });
  }

  /** The tenant role's session defaults in its database, as pg_db_role_setting lists them (TENANT_IDLE_IN_TRANSACTION_TIMEOUT says why). */
  private tenantSessionSettings(): string[] {
    return [`idle_in_transaction_session_timeout=${TENANT_IDLE_IN_TRANSACTION_TIMEOUT}`, `statement_timeout=${Math.round(this.options.tenantStatementTimeoutMs)}ms`];
  }

  private async limitTenantSessions(c: PoolClient, database: string, tenant: string): Promise<void> {
    const where = `role ${ident(tenant)} in database ${ident(database)}`;
    for (const setting of this.tenantSessionSettings()) {
      const [name, value] = setting.split('=');
      await c.query(`alter ${where} set ${name} = ${literal(value)}`);
    }
  }

  private async isSuperuser(c: PoolClient): Promise<boolean> {
    const { rows } = await c.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = current_user');
    return rows[0].rolsuper;
  }

  private lock(c: PoolClient, name: string) {
    return c.query(`select pg_advisory_lock(${databaseNameLockArgs('$1')})`, [name]);
  }

  private async tryLock(c: PoolClient, name: string): Promise<boolean> {
    const { rows } = await c.query<{ ok: boolean }>(`select pg_try_advisory_lock(${databaseNameLockArgs('$1')}) as ok`, [name]);
    return rows[0].ok;
  }

  private unlock(c: PoolClient, name: string) {
    return c.query(`select pg_advisory_unlock(${databaseNameLockArgs('$1')})`, [name]);
  }
}
