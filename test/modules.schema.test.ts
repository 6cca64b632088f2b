import { DataSource } from 'typeorm';
import { BUILTIN_MODULES_DIR, ModuleRegistry } from '../src/modules/registry';
import { serverUrl, stopTestEngine, TestEngine, withClient } from './support/engine';
import { pendingSchemaChanges } from './support/schema';
import { FIXTURE_MODULES, install, newDatabase, startModuleEngine } from './support/modules';

// Modules whose every version must install; the broken fixtures fail on purpose.
const INSTALLABLE = (name: string) => !['fixture_broken', 'fixture_badhook'].includes(name);

let engine: TestEngine;
beforeAll(async () => {
  engine = await startModuleEngine();
});
afterAll(() => stopTestEngine(engine));

/** Every (module, version) pair the engine knows, built-in and fixture, computed when the file loads. */
function allVersions(): Array<[string, string]> {
  const registry = ModuleRegistry.load([BUILTIN_MODULES_DIR, FIXTURE_MODULES]);
  return registry
    .list()
    .filter((m) => INSTALLABLE(m.name))
    .flatMap((m) => m.versions.map((v) => [m.name, v.version] as [string, string]));
}

describe('the schema each module version creates is exactly what its entities describe', () => {
  test.each(allVersions())('%s@%s', async (name, version) => {
    const db = await newDatabase(engine, 'schema');
    if (!['iasql_platform', 'iasql_functions'].includes(name)) {
      const res = await install(engine, db.name, [`${name}@${version}`]);
      expect(res.status).toBe(200);
    }
    // The entities of exactly the versions now installed in the database.
    const installed = await withClient(serverUrl(db.name), (c) => c.query<{ name: string; version: string }>('select name, version from iasql_module'));
    expect(installed.rows).toContainEqual({ name, version });
    const entities = installed.rows.flatMap((m) => engine.registry.resolve(m.name, m.version).entities);
    const settings = engine.conns.settings(db.name);
    expect(await pendingSchemaChanges(new DataSource({ type: 'postgres', ...settings, username: settings.user, entities }))).toEqual([]);
  });
});
