/**
 * How a module is declared. A module is a folder with an index (index.ts compiled to index.js, or
 * plain JavaScript) whose default export (or `module.exports`) is `defineModule({...})`, plus its
 * plain SQL files:
 *
 * ```ts
 * import { defineModule } from 'iasql'; // in this repository: a relative import of src/modules/define
 * import { Note } from './0.1.0/entities';
 *
 * export default defineModule({
 *   name: 'notes',
 *   description: 'Notes and tags',
 *   dir: __dirname,
 *   versions: [
 *     { version: '0.1.0', entities: [Note] },                 // 0.1.0/up.sql, 0.1.0/down.sql
 *     { version: '0.2.0', entities: [NoteV2], dependencies: ['other'],
 *       sql: { afterInstall: '0.2.0/after_install.sql', beforeUninstall: '0.2.0/before_uninstall.sql' } },
 *   ],
 * });
 * ```
 *
 * Versions are immutable once released and listed oldest first. The first version's migration
 * creates the module's tables; each later one migrates the previous version's tables in place.
 * Installing version N runs the ups of every version up to N; uninstalling runs the downs back.
 * See docs/module-authoring.md.
 */

import type { EntitySchema } from 'typeorm';

/** Postgres types an rpc argument or result column may have. */
export const RPC_TYPES = ['text', 'integer', 'bigint', 'boolean', 'numeric', 'json', 'jsonb', 'timestamptz', 'text[]', 'uuid'] as const;
export type RpcType = (typeof RPC_TYPES)[number];

import type { CloudEntity, PlanRow } from '../commit/types';

export interface RpcArgument {
  name: string;
  type: RpcType;
  /** The last argument may be VARIADIC (its type must be an array type): f('a', 'b'). */
  variadic?: boolean;
  /** Present: the argument is optional, with this default. */
  default?: string | number | boolean | null;
  /**
   * Instead of `default`: a call of a function without arguments, evaluated by Postgres when the
   * caller leaves the argument out, e.g. 'default_aws_region()' (shown as such in \df). A NULL passed
   * explicitly reaches the handler as null.
   */
  defaultSql?: string;
  description?: string;
}

export type RpcReturns = { scalar: RpcType } | { table: Array<{ name: string; type: RpcType }> };

/** What a handler runs with. */
export interface RpcContext {
  /** The calling database. */
  database: string;
  /**
   * Runs SQL in the calling database, on the connection that holds the call's lock (so Postgres
   * sees a wait on rows the caller has locked as the deadlock it is). Returns the rows.
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  logger: { debug(obj: object, msg?: string): void; info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
  /** Aborted when the caller gives up (timeout, cancel): stop work and throw. */
  signal: AbortSignal;
  /**
   * Says what a long call is doing now ("3/10 applied"). The caller's psql shows it as a NOTICE
   * (at most one every 1.5 s; nothing for calls shorter than that). Cheap: call it as often as you like.
   */
  progress(message: string): void;
  /** Engine operations on the calling database (the iasql_* functions are built on these). */
  iasql: IasqlApi;
  /** What each dependency of this version exports (its `exports`), at the version installed here. */
  dependencies: Record<string, Record<string, unknown>>;
}

/** Change sets of the calling database (the commit engine, src/commit), for the iasql_* functions. */
export interface ChangeSetApi {
  begin(): Promise<{ change_set_id: number; pending_changes: number }>;
  preview(): Promise<PlanRow[]>;
  commit(message: string | null): Promise<PlanRow[]>;
  rollback(): Promise<PlanRow[]>;
  /** Imports cloud changes into the rows; with dryRun, only reports them. */
  sync(dryRun: boolean): Promise<PlanRow[]>;
  sqlSince(since: string | null): Promise<string[]>;
  sqlForTransaction(transactionId: string): Promise<string[]>;
}

/** Engine operations a handler may use, bound to the calling database. */
export interface IasqlApi {
  version: string;
  changes: ChangeSetApi;
  install(specs: string[]): Promise<import('./operations').InstallReport>;
  uninstall(names: string[]): Promise<import('./operations').UninstallReport>;
  upgrade(): Promise<import('./operations').UpgradeReport>;
  /** Every module the engine can install, at its latest version. */
  available(): Array<{ name: string; latest: string; dependencies: string[] }>;
}

export interface RpcMethod {
  description: string;
  example?: string;
  /** How long a call may take before the caller gets IQ004 (default 60 s; per call: SET iasql.rpc_timeout_ms). */
  timeoutMs?: number;
  args?: RpcArgument[];
  returns: RpcReturns;
  handler: (ctx: RpcContext, args: Record<string, unknown>) => Promise<unknown> | unknown;
}

/** A TypeORM entity: a class decorated with `@Entity('table')`, or `new EntitySchema({ name, tableName, columns })`. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type, @typescript-eslint/no-explicit-any -- TypeORM's own entity types
export type ModuleEntity = Function | EntitySchema<any>;

export interface ModuleVersion {
  /** x.y.z */
  version: string;
  /** Names of modules this version needs installed first. */
  dependencies?: string[];
  /**
   * Optional: the tables as this version's SQL leaves them, as TypeORM entities (decorated classes,
   * or `EntitySchema`s in plain JavaScript), one table each. Declared, they are checked against
   * what the migration did at install; absent, the module owns whatever tables its migrations create.
   */
  entities?: ModuleEntity[];
  /** Migration files, relative to `dir`. Default: `<version>/up.sql` and `<version>/down.sql`. */
  migration?: { up: string; down: string };
  /** Hook files, relative to `dir`: after_install runs right after the migration up, before_uninstall right before the down. */
  sql?: { afterInstall?: string; beforeUninstall?: string };
  /** What the tenant role may do with this module's tables (default 'write': select, insert, update, delete). */
  tenantAccess?: 'read' | 'write';
  rpc?: Record<string, RpcMethod>;
  /**
   * The cloud resources this version's rows stand for, one entry per table: how to read, create,
   * update, replace and delete them. The commit engine applies row changes through these.
   */
  cloud?: CloudEntity[];
  /** Per table, columns whose values never reach the audit log (stored there as '[redacted]'). */
  secretColumns?: Record<string, string[]>;
  /** What this version offers the handlers of modules that depend on it (their ctx.dependencies). */
  exports?: (ctx: Omit<RpcContext, 'dependencies'>) => Record<string, unknown>;
}

export interface ModuleDefinition {
  name: string;
  description: string;
  /** The module's folder (pass `__dirname`); SQL file paths are relative to it. */
  dir: string;
  versions: ModuleVersion[];
}

/** Declares a module. Checks happen when the registry loads (see registry.ts), all at once. */
export function defineModule(def: ModuleDefinition): ModuleDefinition {
  return def;
}
