import * as path from 'node:path';
import type { Config } from '../../src/config';
import { startTestEngine, TestEngine, uniq } from './engine';

export const FIXTURE_MODULES = path.join(__dirname, '..', 'fixtures', 'modules');
/** Modules in plain JavaScript (no compile step); the shelf fixture requires the built package (dist). */
export const FIXTURE_JS_MODULES = path.join(__dirname, '..', 'fixtures', 'js-modules');

/** An engine that also loads the test fixture modules. */
export const startModuleEngine = (overrides: Partial<Config> = {}) => startTestEngine({ modulePath: [FIXTURE_MODULES], ...overrides });

/** A created database: name, connection string, and its own local-cloud account when the engine runs one. */
export interface NewDatabase {
  name: string;
  url: string;
  cloud?: { accountId: string; accessKeyId: string; secretAccessKey: string };
}

/** Creates a managed database; returns its name, connection string and local-cloud account. */
export async function newDatabase(engine: TestEngine, base = 'mod'): Promise<NewDatabase> {
  const res = await engine.api('POST', '/v1/databases', { name: `${base}_${uniq()}` });
  if (res.status !== 201) throw new Error(`create failed: ${JSON.stringify(res.body)}`);
  return { name: res.body.name, url: res.body.connectionString, cloud: res.body.localCloud };
}

export const install = (engine: TestEngine, db: string, modules: string[]) =>
  engine.api('POST', `/v1/databases/${db}/modules`, { install: modules });
export const uninstall = (engine: TestEngine, db: string, modules: string[]) =>
  engine.api('POST', `/v1/databases/${db}/modules`, { uninstall: modules });
export const upgrade = (engine: TestEngine, db: string) => engine.api('POST', `/v1/databases/${db}/upgrade`);
