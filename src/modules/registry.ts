import * as fs from 'node:fs';
import * as path from 'node:path';
import { getMetadataArgsStorage, InstanceChecker } from 'typeorm';
import { IasqlError } from '../errors';
import { unsafeSearchPaths } from './sql-search-path';
import { CycleError, dependencyOrder } from './graph';
import type { CloudEntity } from '../commit/types';
import { ModuleDefinition, ModuleEntity, ModuleVersion, RPC_TYPES, RpcMethod } from './define';

/** A module version as the engine runs it: validated, SQL read, tables known. */
export interface LoadedVersion {
  module: string;
  version: string;
  /** Position in the module's versions, oldest 0. */
  index: number;
  dependencies: string[];
  entities: ModuleEntity[];
  /**
   * The tables the entities name, in their order ([] without entities). What a database holds is
   * learned when the migrations run and recorded in its iasql_tables (see tables.ts).
   */
  tables: string[];
  tenantAccess: 'read' | 'write';
  up: SqlFile;
  down: SqlFile;
  afterInstall?: SqlFile;
  beforeUninstall?: SqlFile;
  rpc: Record<string, RpcMethod>;
  exports?: ModuleVersion['exports'];
  /** Cloud resources of its tables (empty: the module manages no cloud resources). */
  cloud: CloudEntity[];
  secretColumns: Record<string, string[]>;
}

export interface SqlFile {
  /** Path relative to the module's folder, for messages. */
  name: string;
  sql: string;
}

export interface LoadedModule {
  name: string;
  description: string;
  dir: string;
  versions: LoadedVersion[];
  latest: LoadedVersion;
}

/** Modules every database gets on creation; they cannot be uninstalled. */
export const BOOTSTRAP_MODULES = ['iasql_platform', 'iasql_functions', 'iasql_commit'];

export const BUILTIN_MODULES_DIR = path.join(__dirname, '..', '..', 'modules');

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const VERSION = /^(\d+)\.(\d+)\.(\d+)$/;

export function compareVersions(a: string, b: string): number {
  const pa = VERSION.exec(a)!.slice(1).map(Number);
  const pb = VERSION.exec(b)!.slice(1).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/**
 * Every version of every module the engine can run, loaded from the built-in folder and the
 * IASQL_MODULE_PATH folders. Loading validates everything and reports every problem at once;
 * the engine refuses to start on any.
 */
export class ModuleRegistry {
  private constructor(private readonly modules: Map<string, LoadedModule>) {}

  static load(dirs: string[]): ModuleRegistry {
    const problems: string[] = [];
    const found = new Map<string, { def: ModuleDefinition; file: string }>();
    for (const dir of dirs) {
      for (const file of moduleIndexes(dir, problems)) {
        let def: ModuleDefinition;
        try {
          // eslint-disable-next-line @typescript-eslint/no-require-imports -- modules are loaded by path at run time
          const exported = require(file);
          def = exported?.default ?? exported;
        } catch (err) {
          const message = (err as Error).message.split('\n')[0];
          problems.push(
            file.endsWith('.ts')
              ? `${file}: cannot be loaded: ${message}. It is TypeScript, which the engine does not compile: build the module to JavaScript (tsc with experimentalDecorators, emitDecoratorMetadata and module commonjs, its SQL files copied beside the output) and point IASQL_MODULE_PATH at the built folder, or give the package a package.json whose "main" is the built index.js`
              : `${file}: cannot be loaded: ${message}`,
          );
          continue;
        }
        if (!def || typeof def.name !== 'string' || !Array.isArray(def.versions)) {
          problems.push(`${file}: exports no module (export default defineModule({...}), or module.exports = defineModule({...}))`);
          continue;
        }
        const other = found.get(def.name);
        if (other) problems.push(`module '${def.name}' is defined twice: ${other.file} and ${file}`);
        else found.set(def.name, { def, file });
      }
    }
    const modules = new Map<string, LoadedModule>();
    const declared = new Map<string, Declared>();
    for (const { def, file } of found.values()) {
      const { loaded, declares } = loadModule(def, file, problems);
      declared.set(def.name, declares);
      if (loaded) modules.set(loaded.name, loaded);
    }
    for (const b of BOOTSTRAP_MODULES) if (!declared.has(b)) problems.push(`bootstrap module '${b}' is missing`);
    // Cross-module checks look at what every module declares, valid or not, so that one broken
    // module neither hides other problems nor makes its dependents look like they name a stranger.
    checkDependencies(declared, problems);
    checkTables(declared, problems);
    checkRpcNames(declared, problems);
    if (problems.length) {
      throw new IasqlError('invalid_modules', `the module registry is invalid:\n  - ${problems.join('\n  - ')}`);
    }
    return new ModuleRegistry(modules);
  }

  list(): LoadedModule[] {
    return [...this.modules.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): LoadedModule | undefined {
    return this.modules.get(name);
  }

  /** The named version, or a 400 that lists what exists. */
  resolve(name: string, version?: string): LoadedVersion {
    const m = this.modules.get(name);
    if (!m) {
      throw new IasqlError('unknown_module', `unknown module '${name}'; available: ${this.list().map((x) => x.name).join(', ')}`, 400);
    }
    if (version === undefined) return m.latest;
    const v = m.versions.find((x) => x.version === version);
    if (!v) {
      throw new IasqlError('unknown_version', `module '${name}' has no version ${version}; versions: ${m.versions.map((x) => x.version).join(', ')}`, 400);
    }
    return v;
  }
}

/**
 * The module entry points in `dir`: its own (a package's package.json "main", else index.js, else
 * index.ts), or those of its subfolders, one level down. A package folder is one module: its
 * src/ and build output beside each other are never both loaded.
 */
function moduleIndexes(dir: string, problems: string[]): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    problems.push(`module folder ${dir} does not exist`);
    return [];
  }
  const own = moduleIndex(dir, problems);
  if (own !== undefined) return own ? [own] : [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => moduleIndex(path.join(dir, e.name), problems))
    .filter((f): f is string => Boolean(f))
    .sort();
}

/** A folder's entry point; '' for a package whose main is missing (reported), undefined for a folder that is no module. */
function moduleIndex(dir: string, problems: string[]): string | undefined {
  const manifest = path.join(dir, 'package.json');
  if (fs.existsSync(manifest)) {
    let main: unknown;
    try {
      main = JSON.parse(fs.readFileSync(manifest, 'utf8')).main;
    } catch (err) {
      problems.push(`${manifest}: cannot be read as JSON: ${(err as Error).message}`);
      return '';
    }
    if (typeof main === 'string' && main) {
      const file = path.resolve(dir, main);
      const found = [file, `${file}.js`, path.join(file, 'index.js')].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
      if (found) return found;
      problems.push(`${manifest}: its "main" is ${main}, which does not exist (looked for ${file}): build the package first (e.g. npm run build in ${dir})`);
      return '';
    }
  }
  return ['index.js', 'index.ts'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
}

/** What a module declares, kept even when the module is invalid. */
interface Declared {
  versions: Array<{ version: string; dependencies: string[]; tables: string[]; rpc: string[] }>;
}

function loadModule(def: ModuleDefinition, file: string, problems: string[]): { loaded?: LoadedModule; declares: Declared } {
  const where = `module '${def.name}'`;
  const declares: Declared = { versions: [] };
  const before = problems.length;
  if (!NAME.test(def.name)) problems.push(`${file}: invalid module name '${def.name}' (lowercase letters, digits, _; starts with a letter)`);
  if (typeof def.dir !== 'string' || !fs.existsSync(def.dir)) problems.push(`${where}: 'dir' must be the module's folder (pass __dirname)`);
  if (def.versions.length === 0) problems.push(`${where}: declares no versions`);
  const versions: LoadedVersion[] = [];
  def.versions.forEach((v: ModuleVersion, index) => {
    const at = `${where} version ${v.version}`;
    if (!VERSION.test(v.version ?? '')) {
      problems.push(`${where}: invalid version '${v.version}' (use x.y.z)`);
      return;
    }
    const prev = versions[versions.length - 1];
    if (prev && compareVersions(prev.version, v.version) >= 0) {
      problems.push(`${where}: versions must be listed oldest first, each greater than the one before (${prev.version} then ${v.version})`);
    }
    const read = (rel: string, what: string): SqlFile | undefined => {
      const full = path.join(def.dir ?? '', rel);
      if (!fs.existsSync(full)) {
        problems.push(`${at}: ${what} file ${rel} is missing (looked for ${full})`);
        return undefined;
      }
      return { name: rel, sql: fs.readFileSync(full, 'utf8') };
    };
    const up = read(v.migration?.up ?? `${v.version}/up.sql`, 'migration up');
    const down = read(v.migration?.down ?? `${v.version}/down.sql`, 'migration down');
    const afterInstall = v.sql?.afterInstall ? read(v.sql.afterInstall, 'after_install hook') : undefined;
    const beforeUninstall = v.sql?.beforeUninstall ? read(v.sql.beforeUninstall, 'before_uninstall hook') : undefined;
    for (const f of [up, down, afterInstall, beforeUninstall]) if (f) checkSearchPath(at, f, problems);
    const entities = v.entities ?? [];
    const tables: string[] = [];
    const entityOf = new Map<string, string>();
    for (const e of entities) {
      const { entity, table, problem } = entityTable(e);
      if (problem) problems.push(`${at}: ${problem}`);
      else if (entityOf.has(table!)) problems.push(`${at}: table '${table}' is claimed by two entities: ${entityOf.get(table!)} and ${entity}`);
      else {
        entityOf.set(table!, entity);
        tables.push(table!);
      }
    }
    if (v.exports !== undefined && typeof v.exports !== 'function') problems.push(`${at}: exports must be a function (ctx) => ({ ... })`);
    const rpc = v.rpc ?? {};
    declares.versions.push({ version: v.version, dependencies: [...new Set(v.dependencies ?? [])], tables, rpc: Object.keys(rpc) });
    for (const [method, decl] of Object.entries(rpc)) checkRpc(`${at} rpc ${method}`, method, decl, problems);
    const cloud = v.cloud ?? [];
    for (const e of cloud) checkCloudEntity(at, e, tables, problems);
    if (up && down) {
      versions.push({
        module: def.name,
        version: v.version,
        index,
        dependencies: [...new Set(v.dependencies ?? [])],
        entities,
        tables,
        tenantAccess: v.tenantAccess ?? 'write',
        up,
        down,
        afterInstall,
        beforeUninstall,
        rpc,
        exports: v.exports,
        cloud,
        secretColumns: v.secretColumns ?? {},
      });
    }
  });
  if (problems.length > before || versions.length === 0) return { declares };
  return { loaded: { name: def.name, description: def.description ?? '', dir: def.dir, versions, latest: versions[versions.length - 1] }, declares };
}

/**
 * Module SQL runs as the engine with search_path = pg_catalog, pg_temp, so an unqualified name
 * fails at install (and names the statement). What can still hide one is a function that sets a
 * search_path of its own: one naming any schema the tenant can create in (public) would resolve
 * a tenant's function or operator when the engine writes that table. Refused here, with the fix.
 */
function checkSearchPath(at: string, file: SqlFile, problems: string[]) {
  for (const setting of unsafeSearchPaths(file.sql)) {
    problems.push(
      `${at}: ${file.name} line ${setting.line} sets search_path to ${setting.written || '(nothing)'}: module functions must use SET search_path = pg_catalog, pg_temp and name their tables and functions with their schema (public.x), so nothing a tenant creates is resolved when the engine runs them`,
    );
  }
}

/** The table an entity maps to, or why it maps to none. */
export function entityTable(e: ModuleEntity): { entity: string; table?: string; problem?: string } {
  // InstanceChecker, not instanceof: a module outside the repository may resolve its own copy of typeorm.
  if (InstanceChecker.isEntitySchema(e)) {
    const entity = String(e.options.name);
    if (!e.options.tableName) return { entity, problem: `EntitySchema ${entity} must name its table: tableName: 'table_name'` };
    return { entity, table: e.options.tableName };
  }
  const entity = typeof e === 'function' ? e.name : Object.prototype.toString.call(e);
  const decorated = getMetadataArgsStorage().tables.find((t) => t.target === e);
  if (!decorated) return { entity, problem: `${entity} is not a TypeORM entity (a class with @Entity('table_name'), or new EntitySchema({ name, tableName, columns }))` };
  if (!decorated.name) return { entity, problem: `entity ${entity} must name its table: @Entity('table_name')` };
  return { entity, table: decorated.name };
}

function checkRpc(at: string, method: string, decl: RpcMethod, problems: string[]) {
  if (!NAME.test(method)) problems.push(`${at}: invalid method name (lowercase letters, digits, _)`);
  if (typeof decl.handler !== 'function') problems.push(`${at}: handler must be a function`);
  if (!decl.description) problems.push(`${at}: needs a description`);
  const seen = new Set<string>();
  let optional = false;
  for (const a of decl.args ?? []) {
    if (!NAME.test(a.name)) problems.push(`${at}: invalid argument name '${a.name}'`);
    if (seen.has(a.name)) problems.push(`${at}: argument '${a.name}' is declared twice`);
    seen.add(a.name);
    if (!RPC_TYPES.includes(a.type)) problems.push(`${at}: argument '${a.name}' has unsupported type '${a.type}' (use ${RPC_TYPES.join(', ')})`);
    if (a.variadic && (a !== decl.args![decl.args!.length - 1] || !a.type.endsWith('[]'))) {
      problems.push(`${at}: only the last argument may be variadic, and it must have an array type`);
    }
    if (a.defaultSql !== undefined && !/^[a-z_][a-z0-9_]{0,62}\(\)$/.test(String(a.defaultSql))) {
      problems.push(`${at}: argument '${a.name}': defaultSql must be a call without arguments, like default_aws_region()`);
    }
    if ('default' in a || a.defaultSql !== undefined) optional = true;
    else if (optional) problems.push(`${at}: required argument '${a.name}' follows an optional one`);
  }
  const r = decl.returns as { scalar?: string; table?: Array<{ name: string; type: string }> } | undefined;
  if (r?.scalar !== undefined) {
    if (!RPC_TYPES.includes(r.scalar as never)) problems.push(`${at}: unsupported return type '${r.scalar}'`);
  } else if (Array.isArray(r?.table) && r.table.length > 0) {
    for (const c of r.table) {
      if (!NAME.test(c.name)) problems.push(`${at}: invalid result column name '${c.name}'`);
      if (!RPC_TYPES.includes(c.type as never)) problems.push(`${at}: result column '${c.name}' has unsupported type '${c.type}'`);
    }
  } else {
    problems.push(`${at}: returns must be { scalar: type } or { table: [{ name, type }, ...] }`);
  }
}

function checkDependencies(modules: Map<string, Declared>, problems: string[]) {
  for (const [name, m] of modules) {
    for (const v of m.versions) {
      for (const d of v.dependencies) {
        if (!modules.has(d)) problems.push(`module '${name}' version ${v.version} depends on unknown module '${d}'`);
      }
    }
  }
  // Cycles over the dependencies of every version: a database may hold any mix of versions.
  const edges = (name: string) => [...new Set((modules.get(name)?.versions ?? []).flatMap((v) => v.dependencies))].filter((d) => modules.has(d));
  try {
    dependencyOrder(modules.keys(), edges);
  } catch (err) {
    if (err instanceof CycleError) problems.push(err.message);
    else throw err;
  }
}

function checkTables(modules: Map<string, Declared>, problems: string[]) {
  const owner = new Map<string, string>();
  for (const name of [...modules.keys()].sort()) {
    for (const table of new Set(modules.get(name)!.versions.flatMap((v) => v.tables))) {
      const other = owner.get(table);
      if (other) problems.push(`table '${table}' is claimed by two modules: '${other}' and '${name}'`);
      else owner.set(table, name);
    }
  }
}

/** Rpc methods become Postgres functions named after the method: one owner per name. */
function checkRpcNames(modules: Map<string, Declared>, problems: string[]) {
  const owner = new Map<string, string>();
  for (const name of [...modules.keys()].sort()) {
    for (const method of new Set(modules.get(name)!.versions.flatMap((v) => v.rpc))) {
      const other = owner.get(method);
      if (other) problems.push(`rpc method '${method}' is declared by two modules: '${other}' and '${name}'`);
      else owner.set(method, name);
    }
  }
}

/** A cloud entity names one of the version's tables, its id columns and every mapper function. */
function checkCloudEntity(at: string, e: CloudEntity, tables: string[], problems: string[]) {
  const where = `${at} cloud entity ${typeof e?.table === 'string' ? `'${e.table}'` : '(no table)'}`;
  // Without entities, the tables are known only once the migration runs: checked at install.
  if (typeof e?.table !== 'string' || (tables.length > 0 && !tables.includes(e.table))) {
    problems.push(`${where}: 'table' must be one of this version's tables (${tables.join(', ') || 'none'})`);
    return;
  }
  if (!Array.isArray(e.id) || e.id.length === 0 || e.id.some((c) => typeof c !== 'string' || c === 'id')) {
    problems.push(`${where}: 'id' must list the columns that name the resource in the cloud (not the engine's own 'id')`);
  }
  if (typeof e.service !== 'string' || !e.service) problems.push(`${where}: 'service' must name the cloud service (a concurrency bucket), e.g. 'dynamodb'`);
  for (const fn of ['read', 'readAll', 'create', 'update', 'delete'] as const) {
    if (typeof e[fn] !== 'function') problems.push(`${where}: '${fn}' must be a function`);
  }
  for (const fn of ['needsReplace', 'equals', 'readMany'] as const) {
    if (e[fn] !== undefined && typeof e[fn] !== 'function') problems.push(`${where}: '${fn}' must be a function when given`);
  }
}
