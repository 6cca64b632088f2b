import { escapeIdentifier as ident, escapeLiteral as literal, PoolClient } from 'pg';
import { conflict, IasqlError } from '../errors';
import type { Logger } from '../logger';
import type { Connections } from '../postgres/connections';
import { dependencyOrder } from './graph';
import { BOOTSTRAP_MODULES, LoadedVersion, ModuleRegistry, SqlFile } from './registry';
import { createRpcFunctions, dropRpcFunctions } from '../rpc/bindings';
import { splitSql } from './sql-split';
import { dropLeftovers, migrateTracked, readOwners, Table } from './tables';

export interface InstalledModule {
  name: string;
  version: string;
}

/** One move of one module: install (from absent), upgrade, or uninstall (to absent). */
interface Step {
  module: string;
  from?: LoadedVersion;
  to?: LoadedVersion;
}

export interface TableReport {
  module: string;
  table: string;
  records: number;
}

export interface InstallReport {
  installed: Array<{ module: string; version: string }>;
  alreadyInstalled: Array<{ module: string; version: string }>;
  tables: TableReport[];
}

export interface UninstallReport {
  uninstalled: Array<{ module: string; version: string }>;
  tables: TableReport[];
}

export interface UpgradeReport {
  upgraded: Array<{ module: string; from: string; to: string }>;
  installed: Array<{ module: string; version: string }>;
}

/**
 * Install, uninstall and upgrade modules in a managed database. Each call is one transaction
 * under a per-database lock: either every step lands, or the database is left exactly
 * as it was and the error names the module, version, file, line and statement that failed.
 */
export class ModuleOperations {
  /** Runs inside every install's transaction once every module is in (the commit engine imports from the cloud here): if it fails, nothing was installed. */
  importer?: (database: string, c: PoolClient, installed: LoadedVersion[]) => Promise<void>;

  constructor(
    private readonly registry: ModuleRegistry,
    private readonly conns: Connections,
    /** The tenant role of a database (gets privileges on module tables). */
    private readonly roleOf: (database: string) => Promise<string>,
    private readonly logger: Logger,
  ) {}

  async installed(database: string): Promise<InstalledModule[]> {
    return this.readInstalled(await this.conns.pool(database).connect(), true);
  }

  /**
   * `specs` are module names, or `name@x.y.z` to pin a version. Dependencies come along; then the
   * `importer`, in the same transaction.
   */
  async install(database: string, specs: string[], client?: PoolClient): Promise<InstallReport> {
    const wanted = specs.map((s) => this.parseSpec(s));
    return this.inTransaction(database, async (c, role) => {
      const installed = new Map((await this.readInstalled(c)).map((m) => [m.name, m.version]));
      const report: InstallReport = { installed: [], alreadyInstalled: [], tables: [] };
      const targets = new Map<string, LoadedVersion>();
      for (const w of wanted) {
        const have = installed.get(w.name);
        if (have !== undefined) {
          if (w.version && w.version !== have) {
            // A version that does not exist is a 400 listing those that do; an older one cannot be reached by upgrading.
            const asked = this.registry.resolve(w.name, w.version);
            const current = this.registry.resolve(w.name, have);
            if (asked.index < current.index) {
              throw conflict(
                `module '${w.name}' is installed at ${have}, newer than ${w.version}; modules are not downgraded (uninstall it, which drops its tables, then install ${w.version})`,
              );
            }
            throw conflict(`module '${w.name}' is installed at ${have}; to move it to ${w.version}, upgrade the database`);
          }
          report.alreadyInstalled.push({ module: w.name, version: have });
          continue;
        }
        const v = this.registry.resolve(w.name, w.version);
        const other = targets.get(w.name);
        if (other && other.version !== v.version) throw conflict(`module '${w.name}' is asked for twice, at ${other.version} and ${v.version}`);
        targets.set(w.name, v);
      }
      // Dependencies: the installed version if there is one, else the latest.
      this.addDependencies(targets, installed);
      const order = dependencyOrder(targets.keys(), (n) => targets.get(n)!.dependencies.filter((d) => targets.has(d)));
      const created = new Map<string, string[]>();
      for (const name of order) {
        const to = targets.get(name)!;
        created.set(name, await this.apply(c, role, { module: name, to }));
        report.installed.push({ module: name, version: to.version });
      }
      if (this.importer && order.length) await this.importer(database, c, order.map((n) => targets.get(n)!));
      for (const name of order) {
        for (const table of created.get(name)!) report.tables.push({ module: name, table, records: await count(c, table) });
      }
      return report;
    }, client);
  }

  /** Uninstalls leaf to root. Refuses, naming them, while other installed modules depend on a target. */
  async uninstall(database: string, names: string[], client?: PoolClient): Promise<UninstallReport> {
    for (const n of names) {
      this.registry.resolve(this.parseSpec(n).name);
      if (BOOTSTRAP_MODULES.includes(n)) throw new IasqlError('bootstrap_module', `'${n}' is a bootstrap module and cannot be uninstalled`, 400);
    }
    return this.inTransaction(database, async (c) => {
      const installed = new Map((await this.readInstalled(c)).map((m) => [m.name, m.version]));
      const targets = new Set(names);
      for (const n of targets) {
        if (!installed.has(n)) throw new IasqlError('not_installed', `module '${n}' is not installed; installed: ${[...installed.keys()].join(', ')}`, 400);
      }
      const deps = await this.readDependencies(c);
      for (const n of targets) {
        const dependents = deps.filter((d) => d.dependency === n && !targets.has(d.module)).map((d) => d.module);
        if (dependents.length) {
          throw conflict(`cannot uninstall '${n}': ${dependents.map((d) => `'${d}'`).join(', ')} depend${dependents.length === 1 ? 's' : ''} on it; uninstall ${dependents.length === 1 ? 'it' : 'them'} first or together`);
        }
      }
      const order = dependencyOrder(targets, (n) => deps.filter((d) => d.module === n && targets.has(d.dependency)).map((d) => d.dependency)).reverse();
      const report: UninstallReport = { uninstalled: [], tables: [] };
      for (const name of order) {
        const from = this.registry.resolve(name, installed.get(name));
        for (const table of (await ownedTables(c, name, from)).names) report.tables.push({ module: name, table, records: await count(c, table) });
        await this.apply(c, '', { module: name, from });
        report.uninstalled.push({ module: name, version: from.version });
      }
      return report;
    }, client);
  }

  /**
   * Moves every installed module to its latest version through each intermediate version's
   * migration, dependencies first. New dependencies of a latest version are installed.
   */
  async upgrade(database: string, client?: PoolClient): Promise<UpgradeReport> {
    return this.inTransaction(database, async (c, role) => {
      const installed = await this.readInstalled(c);
      const have = new Map(installed.map((m) => [m.name, m.version]));
      const targets = new Map<string, LoadedVersion>();
      for (const m of installed) {
        if (!this.registry.get(m.name)) throw new IasqlError('unknown_module', `installed module '${m.name}' is not known to this engine; cannot upgrade`);
        targets.set(m.name, this.registry.resolve(m.name));
      }
      this.addDependencies(targets, new Map());
      const report: UpgradeReport = { upgraded: [], installed: [] };
      const order = dependencyOrder(targets.keys(), (n) => targets.get(n)!.dependencies);
      for (const name of order) {
        const to = targets.get(name)!;
        const current = have.get(name);
        if (current === to.version) continue;
        const from = current === undefined ? undefined : this.registry.resolve(name, current);
        await this.apply(c, role, { module: name, from, to });
        if (from) report.upgraded.push({ module: name, from: from.version, to: to.version });
        else report.installed.push({ module: name, version: to.version });
      }
      return report;
    }, client);
  }

  /**
   * Health of a database's modules: every installed module known and at its latest version, the
   * platform tables list exactly the tables of the installed versions (those their entities name;
   * for a version without entities, what was recorded when its migration ran), and each one can be
   * read. Returns the problems found (none: healthy).
   */
  async check(database: string): Promise<string[]> {
    const c = await this.conns.pool(database).connect();
    try {
      const problems: string[] = [];
      const expected: string[] = [];
      const recorded = (await c.query<{ t: string; module: string }>('select table_name as t, module from iasql_engine.iasql_tables order by 1')).rows;
      for (const m of await this.readInstalled(c)) {
        const known = this.registry.get(m.name);
        if (!known) {
          problems.push(`module '${m.name}' is not known to this engine`);
          continue;
        }
        if (known.latest.version !== m.version) problems.push(`module '${m.name}' is at ${m.version}, not ${known.latest.version}`);
        const v = this.registry.resolve(m.name, m.version);
        expected.push(...(v.entities.length ? v.tables : recorded.filter((r) => r.module === m.name).map((r) => r.t)));
      }
      const listed = recorded.map((r) => r.t);
      if (listed.join() !== [...expected].sort().join()) problems.push(`iasql_tables lists [${listed.join(', ')}], expected [${[...expected].sort().join(', ')}]`);
      for (const t of expected) {
        await c.query(`select 1 from public.${ident(t)} limit 1`).catch((err: Error) => problems.push(`table ${t}: ${err.message}`));
      }
      return problems;
    } finally {
      c.release();
    }
  }

  /** Installs the bootstrap modules if they are missing (new databases, databases from before modules). */
  async ensureBootstrap(database: string): Promise<void> {
    const have = new Set((await this.installed(database)).map((m) => m.name));
    const missing = BOOTSTRAP_MODULES.filter((m) => !have.has(m));
    if (missing.length) await this.install(database, missing);
  }

  /** Adds to `targets`, at their latest version, the dependencies (transitively) neither targeted nor in `installed`. */
  private addDependencies(targets: Map<string, LoadedVersion>, installed: Map<string, string>) {
    const queue = [...targets.values()];
    while (queue.length) {
      for (const d of queue.shift()!.dependencies) {
        if (installed.has(d) || targets.has(d)) continue;
        const v = this.registry.resolve(d);
        targets.set(d, v);
        queue.push(v);
      }
    }
  }

  private parseSpec(spec: string): { name: string; version?: string } {
    if (typeof spec !== 'string') throw new IasqlError('bad_request', 'module names must be strings', 400);
    const m = /^([a-z][a-z0-9_]{0,62})(?:@(\d+\.\d+\.\d+))?$/.exec(spec);
    if (!m) throw new IasqlError('bad_request', `invalid module '${spec.slice(0, 80)}': use name or name@x.y.z`, 400);
    return { name: m[1], version: m[2] };
  }

  /**
   * Runs `fn` in one transaction under the database's module lock: on a pooled connection, or on
   * `client` when given (an rpc call's connection, so lock waits stay visible to Postgres).
   */
  private async inTransaction<T>(database: string, fn: (c: PoolClient, role: string) => Promise<T>, client?: PoolClient): Promise<T> {
    const role = await this.roleOf(database);
    const started = Date.now();
    const body = async (c: PoolClient) => {
      // A table lock, not an advisory one: any session may take any advisory key, so a tenant
      // holding ours would stall every module operation of its database, and a rollout with them.
      // On this table a tenant can take ACCESS SHARE only, which this mode does not wait for.
      await c.query('lock table iasql_engine.iasql_module in share row exclusive mode');
      // A tenant may hold locks on its module tables (a transaction left open after reading one):
      // a migration waiting on them fails after a while, naming its statement, instead of
      // stalling this operation, the rollout it is part of, and an engine stop waiting for both.
      await c.query(`set local lock_timeout = '${MODULE_LOCK_TIMEOUT}'`);
      return fn(c, role);
    };
    let result: T;
    if (client) {
      await client.query('begin');
      try {
        result = await body(client);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      }
    } else {
      result = await this.conns.transaction(database, body);
    }
    this.logger.info({ database, ms: Date.now() - started }, 'module operation committed');
    return result;
  }

  /**
   * Runs one step's SQL and updates the platform tables. Returns the module's tables after the
   * step, as its migrations left them (see tables.ts); none after an uninstall.
   */
  private async apply(c: PoolClient, role: string, step: Step): Promise<string[]> {
    const { from, to } = step;
    // What the module's migrations and hooks write in audited tables is the engine at work, not
    // the user's intent: the audit log records it under this step's name (docs/commit.md).
    await c.query(`select set_config('iasql.source', $1, true)`, [to ? (from ? 'upgrade' : 'install') : 'uninstall']);
    const versions = this.registry.get(step.module)!.versions;
    const { owners, owned } = await ownedTables(c, step.module, from);
    if (from) for (const sql of dropRpcFunctions(from.rpc)) await c.query(sql);
    if (from?.beforeUninstall) await run(c, from, from.beforeUninstall);
    if (to) {
      let tables: Table[] = [];
      for (const v of versions.slice(from ? from.index + 1 : 0, to.index + 1)) {
        tables = await migrateTracked(c, v, owned, owners, () => run(c, v, v.up));
        owned.clear();
        for (const t of tables) owned.add(t.oid);
      }
      if (to.afterInstall) await run(c, to, to.afterInstall);
      for (const sql of createRpcFunctions(to.module, to.rpc, role)) await c.query(sql);
      const names = tables.map((t) => t.name);
      await this.record(c, to, names);
      await this.grant(c, role, to, names);
      if (!BOOTSTRAP_MODULES.includes(step.module)) await this.audit(c, to, names);
      return names;
    }
    if (from) {
      for (const v of versions.slice(0, from.index + 1).reverse()) await run(c, v, v.down);
      // The module's tables go with it, even those a faulty down.sql left behind.
      const left = await dropLeftovers(c, owned);
      if (left.length) this.logger.warn({ module: from.module, version: from.version, tables: left }, 'the down migrations left these tables; the engine dropped them');
      // The platform module's own down drops the tables these rows live in.
      if (step.module !== 'iasql_platform') await c.query('delete from iasql_engine.iasql_module where name = $1', [step.module]);
    }
    return [];
  }

  private async record(c: PoolClient, v: LoadedVersion, tables: string[]) {
    await c.query(
      `insert into iasql_engine.iasql_module (name, version) values ($1, $2) on conflict (name) do update set version = excluded.version`,
      [v.module, v.version],
    );
    await c.query('delete from iasql_engine.iasql_dependencies where module = $1', [v.module]);
    await c.query('delete from iasql_engine.iasql_tables where module = $1', [v.module]);
    if (v.dependencies.length) {
      await c.query('insert into iasql_engine.iasql_dependencies (module, dependency) select $1, unnest($2::text[])', [v.module, v.dependencies]);
    }
    if (tables.length) {
      await c.query('insert into iasql_engine.iasql_tables (table_name, module) select unnest($2::text[]), $1', [v.module, tables]);
    }
  }

  /** Every change to the module's tables goes to iasql_audit_log (secret columns redacted). */
  private async audit(c: PoolClient, v: LoadedVersion, tables: string[]) {
    for (const table of tables) {
      const secrets = (v.secretColumns[table] ?? []).map(literal).join(', ');
      await c.query(`drop trigger if exists iasql_audit on public.${ident(table)}`);
      await c.query(`create trigger iasql_audit after insert or update or delete on public.${ident(table)} for each row execute function iasql_engine.iasql_audit_row(${secrets})`);
    }
  }

  /** The tenant may read (platform) or edit (everything else) a module's tables. */
  private async grant(c: PoolClient, role: string, v: LoadedVersion, tables: string[]) {
    if (!role || tables.length === 0) return;
    const privileges = v.tenantAccess === 'read' ? 'select' : 'select, insert, update, delete';
    await c.query(`grant ${privileges} on table ${tables.map((t) => `public.${ident(t)}`).join(', ')} to ${ident(role)}`);
    if (v.tenantAccess === 'write') {
      // The engine's sequences only: those the tenant made in public are its own, not the engine's to
      // grant (GRANT ... ON ALL SEQUENCES IN SCHEMA public fails on them: every install would).
      const { rows } = await c.query<{ seq: string }>(
        `select s.oid::regclass::text as seq from pg_class s
          where s.relkind = 'S' and s.relnamespace = 'public'::regnamespace and s.relowner = current_user::regrole`,
      );
      if (rows.length) await c.query(`grant usage, select on sequence ${rows.map((r) => r.seq).join(', ')} to ${ident(role)}`);
    }
  }

  private async readInstalled(c: PoolClient, release = false): Promise<InstalledModule[]> {
    try {
      const { rows } = await c.query<{ exists: boolean }>(`select to_regclass('iasql_engine.iasql_module') is not null as exists`);
      if (!rows[0].exists) return [];
      return (await c.query<InstalledModule>('select name, version from iasql_engine.iasql_module order by name')).rows;
    } finally {
      if (release) c.release();
    }
  }

  private async readDependencies(c: PoolClient) {
    return (await c.query<{ module: string; dependency: string }>('select module, dependency from iasql_engine.iasql_dependencies')).rows;
  }
}

/** How long a module operation waits for a lock a session of the database holds (a Postgres interval). */
const MODULE_LOCK_TIMEOUT = '10s';

/** Who owns which table (by oid), and the oids of `module`'s tables, sorted by name in `names`. */
async function ownedTables(c: PoolClient, module: string, installed?: LoadedVersion) {
  const owners = await readOwners(c, module, installed?.tables ?? []);
  const owned = new Set([...owners].filter(([, m]) => m === module).map(([oid]) => oid));
  const names = owned.size
    ? (await c.query<{ name: string }>('select relname as name from pg_class where oid = any($1::oid[])', [[...owned]])).rows.map((r) => r.name).sort((a, b) => a.localeCompare(b))
    : [];
  return { owners, owned, names };
}

async function count(c: PoolClient, table: string): Promise<number> {
  const { rows } = await c.query<{ n: number }>(`select count(*)::int as n from public.${ident(table)}`);
  return rows[0].n;
}

/** Runs a SQL file statement by statement; a failure names module, version, file, line and statement. */
async function run(c: PoolClient, v: LoadedVersion, file: SqlFile) {
  for (const stmt of splitSql(file.sql)) {
    try {
      await c.query(stmt.text);
    } catch (err) {
      const short = stmt.text.length > 300 ? `${stmt.text.slice(0, 300)}...` : stmt.text;
      throw new IasqlError(
        'module_sql_failed',
        `module ${v.module}@${v.version}: ${file.name} line ${stmt.line} failed: ${(err as Error).message}\n  statement: ${short}\nnothing was changed`,
        500,
        { cause: err },
      );
    }
  }
}
