import { Client } from 'pg';
import * as credentials from '../src/databases/credentials';
import { serverUrl, startTestEngine, stopTestEngine, TestEngine, tryConnect, uniq, withClient } from './support/engine';

let engine: TestEngine;
const suffix = uniq();
const n = (base: string) => `${base}_${suffix}`;

beforeAll(async () => {
  engine = await startTestEngine();
});
afterAll(() => stopTestEngine(engine));

const serverState = (name: string) =>
  withClient(serverUrl(), async (c) => {
    const db = await c.query('select 1 from pg_database where datname = $1', [name]);
    return { databaseExists: db.rowCount === 1 };
  });

describe('POST /v1/databases', () => {
  test('creates a database the returned connection string can use', async () => {
    const name = n('shop');
    const res = await engine.api('POST', '/v1/databases', { name });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      name,
      user: expect.stringMatching(/^iasql_[0-9a-f]{12}$/),
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      connectionString: expect.stringContaining(`/${name}`),
      // Its own account in the engine's local cloud.
      localCloud: { accountId: expect.stringMatching(/^\d{12}$/), accessKeyId: expect.stringMatching(/^AKIA[A-Z0-9]{16}$/), secretAccessKey: expect.stringMatching(/^.{40}$/) },
    });
    await withClient(res.body.connectionString, async (c) => {
      const { rows } = await c.query('select current_user as u, current_database() as d');
      expect(rows[0]).toEqual({ u: res.body.user, d: name });
      // The tenant does not own its database, but it can create and fill its own tables.
      await c.query('create table note (id int primary key, body text)');
      await c.query(`insert into note values (1, 'hello')`);
      expect((await c.query('select body from note')).rows).toEqual([{ body: 'hello' }]);
    });
    // The engine SQL is in place: dblink installed in iasql_internal.
    await withClient(serverUrl(name), async (c) => {
      const ext = await c.query(`select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace where extname = 'dblink'`);
      expect(ext.rows).toEqual([{ nspname: 'iasql_internal' }]);
    });
  });

  test('GET lists and shows it, without any secret', async () => {
    const name = n('listed');
    const created = (await engine.api('POST', '/v1/databases', { name })).body;
    const list = await engine.api('GET', '/v1/databases');
    expect(list.status).toBe(200);
    const entry = list.body.databases.find((d: { name: string }) => d.name === name);
    expect(entry).toEqual({ name, user: created.user, status: 'ready', engineVersion: '0.1.0', createdAt: expect.any(String) });
    expect(JSON.stringify(list.body)).not.toContain(created.password);
    expect(await engine.api('GET', `/v1/databases/${name}`)).toEqual({ status: 200, body: entry });
  });

  test('a taken name is 409 and changes nothing', async () => {
    const name = n('taken');
    const first = await engine.api('POST', '/v1/databases', { name });
    expect(first.status).toBe(201);
    const again = await engine.api('POST', '/v1/databases', { name });
    expect(again).toEqual({ status: 409, body: { error: { code: 'conflict', message: `database '${name}' already exists` } } });
    expect(await tryConnect(first.body.connectionString)).toBe('connected');
  });

  test('two concurrent creates of one name: one 201, one 409', async () => {
    const name = n('race');
    const results = await Promise.all([1, 2].map(() => engine.api('POST', '/v1/databases', { name })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });

  test('a name already used by an unmanaged database is 409 and leaves no role or record behind', async () => {
    const name = n('foreign');
    await withClient(serverUrl(), (c) => c.query(`create database ${name}`));
    // The role this create makes, by name: other test files create roles on this server at the
    // same time, so counting roles would not say whether this one was removed.
    const role = `iasql_leak${suffix}`; // never a real one: those are iasql_ + 12 hex digits
    const roles = { tenant: role, engine: `${role}_engine`, queue: `${role}_queue` };
    const spy = jest.spyOn(credentials, 'generateRoleNames').mockReturnValueOnce(roles);
    const res = await engine.api('POST', '/v1/databases', { name });
    expect(spy).toHaveBeenCalled();
    spy.mockRestore();
    expect(res.status).toBe(409);
    expect(res.body.error.message).toBe(
      `a database named '${name}' already exists on the Postgres server but is not managed by iasql; choose another name`,
    );
    expect((await serverState(name)).databaseExists).toBe(true);
    // None of the three roles (tenant, engine, queue) is left.
    expect((await withClient(serverUrl(), (c) => c.query('select 1 from pg_roles where rolname = any($1)', [Object.values(roles)]))).rowCount).toBe(0);
    expect((await engine.api('GET', `/v1/databases/${name}`)).status).toBe(404);
    await withClient(serverUrl(), (c) => c.query(`drop database ${name}`));
  });

  const rule =
    'a database name starts with a lowercase letter, has only lowercase letters, digits and underscores, and is at most 63 characters';
  test.each([
    ['uppercase', { name: 'Shop' }, `invalid name 'Shop': ${rule}`],
    ['leading digit', { name: '1shop' }, `invalid name '1shop': ${rule}`],
    ['hyphen', { name: 'my-shop' }, `invalid name 'my-shop': ${rule}`],
    ['quote', { name: 'a"; drop database x; --' }, `invalid name 'a"; drop database x; --': ${rule}`],
    ['64 characters', { name: 'a'.repeat(64) }, `invalid name '${'a'.repeat(64)}': ${rule}`],
    ['empty', { name: '' }, `name is required: ${rule}`],
    ['missing name', {}, `name: name is required: ${rule}`],
    ['number', { name: 42 }, `name: name is required: ${rule}`],
    ['extra field', { name: 'ok', owner: 'me' }, `unknown field(s) 'owner'`],
    ['reserved postgres', { name: 'postgres' }, `'postgres' is reserved; choose another name`],
    ['reserved template1', { name: 'template1' }, `'template1' is reserved; choose another name`],
    ['array body', [1], 'request body must be a JSON object (send Content-Type: application/json)'],
    ['invalid JSON', '{"name": ', 'request body is not valid JSON'],
  ])('%s is 400 with a message that says what to fix', async (_label, body, message) => {
    const before = await engine.api('GET', '/v1/databases');
    const res = await engine.api('POST', '/v1/databases', body);
    expect(res).toEqual({ status: 400, body: { error: { code: 'bad_request', message } } });
    expect(await engine.api('GET', '/v1/databases')).toEqual(before);
  });

  test('the metadata database name is reserved', async () => {
    const res = await engine.api('POST', '/v1/databases', { name: engine.config.metadataDatabase });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(`'${engine.config.metadataDatabase}' is reserved; choose another name`);
  });

  test('a body without JSON content type is 400', async () => {
    const res = await fetch(engine.apiUrl + '/v1/databases', {
      method: 'POST',
      headers: { authorization: `Bearer ${'test-admin-token-0123456789abcdef'}`, 'content-type': 'text/plain' },
      body: 'name=x',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: 'bad_request', message: 'request body must be a JSON object (send Content-Type: application/json)' },
    });
  });

  test('a body over 100kb is 413', async () => {
    const res = await engine.api('POST', '/v1/databases', { name: 'x', pad: 'y'.repeat(200_000) });
    expect(res).toEqual({ status: 413, body: { error: { code: 'bad_request', message: 'request body is too large (limit 100kb)' } } });
  });
});

describe('GET and DELETE /v1/databases/:name', () => {
  test('unknown database is 404', async () => {
    const message = `database 'nosuch_${suffix}' does not exist; iasql db list (GET /v1/databases) lists the managed databases`;
    expect(await engine.api('GET', `/v1/databases/nosuch_${suffix}`)).toEqual({ status: 404, body: { error: { code: 'not_found', message } } });
    expect(await engine.api('DELETE', `/v1/databases/nosuch_${suffix}`)).toEqual({ status: 404, body: { error: { code: 'not_found', message } } });
  });

  test('an invalid name in the path is 400', async () => {
    const res = await engine.api('GET', '/v1/databases/Bad%20Name');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^invalid name 'Bad Name': a database name starts with/);
  });

  test('an unmanaged database on the server is 404, and DELETE leaves it alone', async () => {
    const name = n('unmanaged');
    await withClient(serverUrl(), (c) => c.query(`create database ${name}`));
    expect((await engine.api('DELETE', `/v1/databases/${name}`)).status).toBe(404);
    expect((await serverState(name)).databaseExists).toBe(true);
    await withClient(serverUrl(), (c) => c.query(`drop database ${name}`));
  });

  test('DELETE ends open sessions, drops database and role, removes the record', async () => {
    const name = n('doomed');
    const created = (await engine.api('POST', '/v1/databases', { name })).body;
    const session = new Client({ connectionString: created.connectionString });
    await session.connect();
    const ended = new Promise<string>((resolve) => session.on('error', (err) => resolve(err.message)));
    const res = await engine.api('DELETE', `/v1/databases/${name}`);
    expect(res).toEqual({ status: 204, body: undefined });
    expect(await ended).toMatch(/terminat/);
    expect((await serverState(name)).databaseExists).toBe(false);
    const role = await withClient(serverUrl(), (c) => c.query('select 1 from pg_roles where rolname = $1', [created.user]));
    expect(role.rowCount).toBe(0);
    expect((await engine.api('GET', `/v1/databases/${name}`)).status).toBe(404);
    expect(await tryConnect(created.connectionString)).toMatch(/password authentication failed|does not exist/);
    // The name is free again.
    expect((await engine.api('POST', '/v1/databases', { name })).status).toBe(201);
  });
});
