import type { PoolClient } from 'pg';
import type { RpcContext } from './define';
import type { LoadedVersion, ModuleRegistry } from './registry';

/**
 * What each dependency of `version` exports (its `exports`), at the version installed in the
 * database `client` is on. `installed` (module name -> version), when the caller read it already,
 * saves the query.
 */
export async function dependencyExports(
  registry: ModuleRegistry,
  version: LoadedVersion,
  base: Omit<RpcContext, 'dependencies'>,
  client: PoolClient,
  installed?: Record<string, string>,
) {
  const out: Record<string, Record<string, unknown>> = {};
  if (version.dependencies.length === 0) return out;
  const rows = installed
    ? version.dependencies.filter((d) => installed[d] !== undefined).map((name) => ({ name, version: installed[name] }))
    : (await client.query<{ name: string; version: string }>('select name, version from iasql_engine.iasql_module where name = any($1)', [version.dependencies])).rows;
  for (const r of rows) {
    const dep = registry.get(r.name)?.versions.find((v) => v.version === r.version);
    out[r.name] = dep?.exports ? dep.exports(base) : {};
  }
  return out;
}
