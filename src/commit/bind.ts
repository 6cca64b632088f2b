import type { PoolClient } from 'pg';
import type { Logger } from '../logger';
import type { ChangeSetApi, RpcContext } from '../modules/define';
import type { LoadedVersion, ModuleRegistry } from '../modules/registry';
import { ChangeSets, CommitOptions, DEFAULT_COMMIT_OPTIONS, Progress } from './change-sets';
import type { BoundEntity } from './plan';
import { dependencyExports } from '../modules/exports';
import { replaySql } from './replay';

export interface BindOptions {
  registry: ModuleRegistry;
  database: string;
  /** The rpc call's connection (holds its lock). */
  client: PoolClient;
  /** Who made the call (its tenant role): a change set it opens records them as opened_by. */
  caller?: string;
  /** The handler context the mappers' contexts derive from. */
  base: Omit<RpcContext, 'dependencies' | 'iasql' | 'progress'> & { progress?: RpcContext['progress'] };
  /** Each dependency's exports at its installed version, for a module version. */
  exportsOf: (version: LoadedVersion, client: PoolClient) => Promise<Record<string, Record<string, unknown>>>;
  logger: Logger;
  options?: CommitOptions;
  onProgress?: (changeSet: number, p: Progress) => void;
}

/** The cloud entities of the modules installed in the database (read on `client`), with their mappers' contexts. */
export async function boundEntities(o: BindOptions, only?: LoadedVersion[]): Promise<Map<string, BoundEntity>> {
  const versions =
    only ??
    (await o.client.query<{ name: string; version: string }>('select name, version from iasql_engine.iasql_module')).rows
      .map((r) => o.registry.get(r.name)?.versions.find((v) => v.version === r.version))
      .filter((v): v is LoadedVersion => v !== undefined);
  const out = new Map<string, BoundEntity>();
  for (const v of versions) {
    if (v.cloud.length === 0) continue;
    const ctx = { database: o.database, query: o.base.query, logger: o.base.logger, signal: o.base.signal, dependencies: await o.exportsOf(v, o.client) };
    for (const entity of v.cloud) out.set(entity.table, { entity, module: v.module, ctx });
  }
  return out;
}

export function changeSetApi(o: BindOptions): ChangeSetApi {
  const sets = async () => new ChangeSets(o.client, o.database, await boundEntities(o), o.logger, o.options ?? DEFAULT_COMMIT_OPTIONS, o.onProgress ?? ((_id, p) => o.base.progress?.(describeProgress(p))), o.caller);
  const idColumns = async () => {
    const entities = await boundEntities(o);
    return (table: string) => entities.get(table)?.entity.id;
  };
  return {
    begin: async () => (await sets()).begin(),
    preview: async () => (await sets()).preview(),
    commit: async (message) => (await sets()).commit(message),
    rollback: async () => (await sets()).rollback(),
    sync: async (dryRun) => (await sets()).sync(dryRun),
    sqlSince: async (since) => replaySql(o.client, { since }, await idColumns()),
    sqlForTransaction: async (id) => replaySql(o.client, { transactionId: id }, await idColumns()),
  };
}

/** A commit's progress as its caller reads it in a NOTICE. */
export function describeProgress(p: Progress): string {
  const running = p.running.length ? `; running: ${p.running.slice(0, 3).join(', ')}${p.running.length > 3 ? ` and ${p.running.length - 3} more` : ''}` : '';
  return `iasql_commit: ${p.applied}/${p.total} applied${running}`;
}

/**
 * What runs inside every install's transaction (ModuleOperations.importer): the new modules'
 * cloud tables get what the cloud has. Mappers read the database on the install's connection, so
 * they see what the install just wrote (aws_account's credentials).
 */
export function cloudImporter(registry: ModuleRegistry, logger: Logger, options: CommitOptions = DEFAULT_COMMIT_OPTIONS) {
  return async (database: string, c: PoolClient, installed: LoadedVersion[]): Promise<void> => {
    const base = { database, query: async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as T[], logger, signal: new AbortController().signal };
    // Exports see the same context as an rpc handler's, less the engine API (an import is no call).
    const exportsOf = (v: LoadedVersion, cl: PoolClient) => dependencyExports(registry, v, { ...base, progress: () => undefined, iasql: undefined as never }, cl);
    const entities = await boundEntities({ registry, database, client: c, base, exportsOf, logger }, installed);
    if (entities.size === 0) return;
    await new ChangeSets(c, database, entities, logger, options).importFromCloud([...entities.keys()]);
  };
}
