import { escapeIdentifier as ident, escapeLiteral as literal, PoolClient } from 'pg';
import { DataSource, In, Repository } from 'typeorm';
import { conflict, IasqlError, notFound, PG, pgCode } from '../errors';
import type { Logger } from '../logger';
import { ManagedDatabase } from '../metadata/entities/managed-database';
import type { Connections } from '../postgres/connections';
import { ENGINE_VERSION } from '../version';
import { generatePassword, generateRoleName, scramVerifier } from './credentials';
import { applyEngineSql } from './engine-sql';
import { checkDatabaseName, reservedNames } from './names';

/** What a create returns, once: the password is not stored anywhere. */
export interface CreatedDatabase {
  name: string;
  user: string;
  password: string;
  connectionString: string;
}

export interface DatabaseInfo {
  name: string;
  user: string;
  status: ManagedDatabase['status'];
  engineVersion: string;
  createdAt: string;
}

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
  private readonly repo: Repository<ManagedDatabase>;

  constructor(
    private readonly conns: Connections,
    meta: DataSource,
    private readonly metadataDatabase: string,
    private readonly logger: Logger,
    /** Brings a database's engine-owned parts up to date after its engine SQL (bootstrap modules). */
    private readonly prepare: (database: string) => Promise<void> = async () => undefined,
  ) {
    this.reserved = reservedNames(metadataDatabase);
    this.repo = meta.getRepository(ManagedDatabase);
  }

  async create(rawName: unknown): Promise<CreatedDatabase> {
    const name = checkDatabaseName(rawName, this.reserved);
    const user = generateRoleName();
    const password = generatePassword();
    // The registry row comes first: its primary key settles concurrent creates of one name.
    try {
      await this.repo.insert({ name, roleName: user, status: 'creating', engineVersion: ENGINE_VERSION });
    } catch (err) {
      if (pgCode(err) === PG.uniqueViolation) throw conflict(`database '${name}' already exists`);
      throw err;
    }
    const started = Date.now();
    const c = await this.conns.pool(this.metadataDatabase).connect();
    try {
      await this.lock(c, name);
      // Cleanup removes only what this create made: never a database someone else owns.
      let madeDatabase = false;
      try {
        await c.query(
          `create role ${ident(user)} login nosuperuser nocreatedb nocreaterole noreplication password ${literal(scramVerifier(password))}`,
        );
        if (!(await this.isSuperuser(c))) await c.query(`grant ${ident(user)} to current_user`);
        try {
          await c.query(`create database ${ident(name)} owner ${ident(user)}`);
          madeDatabase = true;
        } catch (err) {
          if (pgCode(err) === PG.duplicateDatabase) {
            throw conflict(`a database named '${name}' already exists on the Postgres server but is not managed by iasql; choose another name`);
          }
          throw err;
        }
        await c.query(`revoke connect, temporary on database ${ident(name)} from public`);
        const tenant = await this.conns.pool(name).connect();
        try {
          await applyEngineSql(tenant);
        } finally {
          tenant.release();
        }
        await this.prepare(name);
        await this.repo.update({ name }, { status: 'ready' });
      } catch (err) {
        await this.remove(c, name, user, { keepDatabase: !madeDatabase }).catch((cleanupErr) =>
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
    };
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

  /** The database, which must be ready (not being created or dropped). */
  async ready(rawName: unknown): Promise<DatabaseInfo> {
    const db = await this.find(rawName);
    if (db.status !== 'ready') throw conflict(`database '${db.name}' is ${db.status === 'creating' ? 'being created' : 'being dropped'}; try again in a moment`);
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
        await this.remove(c, db.name, db.roleName);
      } finally {
        await this.unlock(c, db.name);
      }
    } finally {
      c.release();
    }
    this.logger.info({ database: db.name }, 'database dropped');
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
          await this.remove(c, db.name, db.roleName);
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

  /** Brings the engine SQL of every ready database up to this engine's version. */
  async upgradeAll(): Promise<void> {
    for (const db of await this.repo.find({ where: { status: 'ready' } })) {
      const c = await this.conns.pool(db.name).connect();
      try {
        const ran = await applyEngineSql(c);
        await this.prepare(db.name);
        if (ran > 0 || db.engineVersion !== ENGINE_VERSION) {
          await this.repo.update({ name: db.name }, { engineVersion: ENGINE_VERSION });
          this.logger.info({ database: db.name, files: ran }, 'engine SQL brought up to date');
        }
      } finally {
        c.release();
      }
    }
  }

  private async find(rawName: unknown): Promise<ManagedDatabase> {
    const name = checkDatabaseName(rawName, new Set());
    const db = await this.repo.findOneBy({ name });
    if (!db) throw notFound(`database '${name}' does not exist; GET /v1/databases lists the managed databases`);
    return db;
  }

  private async remove(c: PoolClient, name: string, role: string, opts: { keepDatabase?: boolean } = {}) {
    await this.conns.close(name);
    if (!opts.keepDatabase) await c.query(`drop database if exists ${ident(name)} with (force)`);
    await c.query(`drop role if exists ${ident(role)}`);
    await this.repo.delete({ name });
  }

  private async isSuperuser(c: PoolClient): Promise<boolean> {
    const { rows } = await c.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = current_user');
    return rows[0].rolsuper;
  }

  private lock(c: PoolClient, name: string) {
    return c.query(`select pg_advisory_lock(hashtext('iasql_db'), hashtext($1))`, [name]);
  }

  private async tryLock(c: PoolClient, name: string): Promise<boolean> {
    const { rows } = await c.query<{ ok: boolean }>(`select pg_try_advisory_lock(hashtext('iasql_db'), hashtext($1)) as ok`, [name]);
    return rows[0].ok;
  }

  private unlock(c: PoolClient, name: string) {
    return c.query(`select pg_advisory_unlock(hashtext('iasql_db'), hashtext($1))`, [name]);
  }
}
