import { DataSource } from 'typeorm';
import { ENGINE_ENTITIES } from '../src/databases/engine-entities';
import { BUILTIN_MODULES_DIR, ModuleRegistry } from '../src/modules/registry';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, withClient } from './support/engine';
import { pendingSchemaChanges } from './support/schema';
import { FIXTURE_JS_MODULES, FIXTURE_MODULES, install, newDatabase } from './support/modules';

// Modules whose every version must install; the broken fixtures fail on purpose.
const INSTALLABLE = (name: string) => !['fixture_broken', 'fixture_badhook', 'fixture_js_mismatch'].includes(name);
// The TypeScript fixtures and the plain-JavaScript ones (whose entities, if any, are EntitySchemas).
const FIXTURES = [FIXTURE_MODULES, FIXTURE_JS_MODULES];

let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine({ modulePath: FIXTURES });
});
afterAll(() => stopTestEngine(engine));

/** Every (module, version) pair the engine knows, built-in and fixture, computed when the file loads. */
function allVersions(): Array<[string, string]> {
  const registry = ModuleRegistry.load([BUILTIN_MODULES_DIR, ...FIXTURES]);
  return registry
    .list()
    .filter((m) => INSTALLABLE(m.name))
    .flatMap((m) => m.versions.map((v) => [m.name, v.version] as [string, string]));
}

// A version without entities is checked only for the entities of the other modules installed.
describe('the schema each module version creates is exactly what its entities describe', () => {
  test.each(allVersions())('%s@%s', async (name, version) => {
    const db = await newDatabase(engine, 'schema');
    if (!['iasql_platform', 'iasql_functions', 'iasql_commit'].includes(name)) {
      const res = await install(engine, db.name, [`${name}@${version}`]);
      expect(res.status).toBe(200);
    }
    // The entities of exactly the versions now installed in the database.
    const installed = await withClient(serverUrl(db.name), (c) => c.query<{ name: string; version: string }>('select name, version from iasql_module'));
    expect(installed.rows).toContainEqual({ name, version });
    const entities = installed.rows.flatMap((m) => engine.registry.resolve(m.name, m.version).entities);
    const settings = engine.conns.settings(db.name);
    // As the engine role (whose search_path is pg_catalog only): module tables are in public, the engine's in iasql_engine.
    const source = new DataSource({ type: 'postgres', ...settings, username: settings.user, schema: 'public', entities: [...ENGINE_ENTITIES, ...entities] });
    expect(await pendingSchemaChanges(source)).toEqual([]);
  });
});
