import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { metadataDataSource } from '../src/metadata/data-source';
import { pendingSchemaChanges } from './support/schema';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine } from './support/engine';

const run = promisify(execFile);
let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine();
});
afterAll(() => stopTestEngine(engine));

describe('metadata database', () => {
  test('the migrations produce exactly the schema the entities describe', async () => {
    expect(await pendingSchemaChanges(metadataDataSource(engine.conns.settings(engine.config.metadataDatabase)))).toEqual([]);
  });

  test('the TypeORM CLI works with ormconfig (migration:show)', async () => {
    const root = path.join(__dirname, '..');
    const { stdout } = await run(path.join(root, 'node_modules/.bin/typeorm'), ['-d', 'dist/ormconfig.js', 'migration:show'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: serverUrl(), IASQL_METADATA_DB: engine.config.metadataDatabase },
    });
    expect(stdout).toMatch(/\[X\] \d+ ManagedDatabase1763700000000/);
  });
});
