import * as fs from 'node:fs';
import { serverUrl, startTestEngine, stopTestEngine, TEST_TOKEN, TestEngine, uniq, withClient } from './support/engine';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine({ logLevel: 'trace' });
});
afterAll(() => stopTestEngine(engine));

describe('secrets stay out of logs and errors', () => {
  test('creating, listing and dropping a database logs no password, token or connection string', async () => {
    // Make the server log every statement meanwhile, to check that no password reaches it either.
    const setLogStatement = (v: string) =>
      withClient(serverUrl(), async (c) => {
        await c.query(`alter system set log_statement = '${v}'`);
        await c.query('select pg_reload_conf()');
      });
    const serverLog = process.env.IASQL_TEST_PG_LOG!;
    const logStart = fs.statSync(serverLog).size;
    await setLogStatement('all');
    const name = `logged_${uniq()}`;
    let created: { password: string; connectionString: string };
    try {
      created = (await engine.api('POST', '/v1/databases', { name })).body;
    } finally {
      await setLogStatement('none');
    }
    await engine.api('GET', '/v1/databases');
    await engine.api('GET', '/v1/version', undefined, 'a-wrong-token-that-should-not-be-logged');
    await engine.api('DELETE', `/v1/databases/${name}`);
    const logs = engine.logs();
    expect(logs).toContain('"msg":"database created"'); // the log really captured this create
    expect(logs).toContain(`"database":"${name}"`);
    const secrets = [created.password, encodeURIComponent(created.password), created.connectionString, TEST_TOKEN, 'a-wrong-token-that-should-not-be-logged'];
    for (const secret of secrets) expect(logs).not.toContain(secret);
    // Roles are created from a SCRAM verifier: the server's statement log never sees the password.
    const server = fs.readFileSync(serverLog, 'utf8').slice(logStart);
    expect(server).toMatch(/create role "iasql_[0-9a-f]{12}" login .* password 'SCRAM-SHA-256\$4096:/);
    expect(server).not.toContain(created.password);
  });

  test('an unexpected failure is a 500 without internals, and is logged', async () => {
    // Break the engine's registry behind its back, the way a faulty server would.
    await withClient(serverUrl(engine.config.metadataDatabase), (c) => c.query('alter table managed_database rename to managed_database_gone'));
    try {
      const res = await engine.api('GET', '/v1/databases');
      expect(res).toEqual({ status: 500, body: { error: { code: 'internal_error', message: 'internal error; the engine log has the details' } } });
      expect(engine.logs()).toContain('relation \\"managed_database\\" does not exist');
    } finally {
      await withClient(serverUrl(engine.config.metadataDatabase), (c) => c.query('alter table managed_database_gone rename to managed_database'));
    }
  });
});
