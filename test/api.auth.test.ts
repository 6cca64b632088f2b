import { startTestEngine, stopTestEngine, TestEngine } from './support/engine';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startTestEngine();
});
afterAll(() => stopTestEngine(engine));

describe('REST auth and public routes', () => {
  test('GET /health needs no token and checks Postgres', async () => {
    const res = await engine.api('GET', '/health', undefined, null);
    expect(res).toEqual({ status: 200, body: { status: 'ok', postgres: 'ok' } });
  });

  test('GET /openapi.json needs no token and describes every /v1 route', async () => {
    const res = await engine.api('GET', '/openapi.json', undefined, null);
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(Object.keys(res.body.paths).sort()).toEqual(
      [
        '/health',
        '/openapi.json',
        '/v1/databases',
        '/v1/databases/{name}',
        '/v1/databases/{name}/commits',
        '/v1/databases/{name}/modules',
        '/v1/databases/{name}/password',
        '/v1/databases/{name}/upgrade',
        '/v1/modules',
        '/v1/rollouts',
        '/v1/rollouts/{id}',
        '/v1/status',
        '/v1/version',
      ].sort(),
    );
  });

  test.each([
    ['no header', null, 'missing admin token: send the header Authorization: Bearer <token>'],
    ['wrong token', 'not-the-token-at-all', 'invalid admin token'],
    ['empty bearer', '', 'missing admin token: send the header Authorization: Bearer <token>'],
  ])('/v1 with %s is 401 JSON', async (_label, token, message) => {
    for (const [method, route] of [
      ['GET', '/v1/version'],
      ['GET', '/v1/databases'],
      ['POST', '/v1/databases'],
      ['DELETE', '/v1/databases/x'],
      ['POST', '/v1/databases/x/password'],
      ['GET', '/v1/status'],
    ]) {
      const res = await engine.api(method, route, method === 'POST' ? { name: 'x' } : undefined, token);
      expect(res).toEqual({ status: 401, body: { error: { code: 'unauthorized', message } } });
    }
  });

  test('a non-Bearer scheme is refused', async () => {
    const res = await fetch(engine.apiUrl + '/v1/version', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  test('GET /v1/version reports engine, Postgres and Node versions', async () => {
    const res = await engine.api('GET', '/v1/version');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ version: '0.1.0', postgres: expect.stringMatching(/^\d+\.\d+/), node: process.version });
  });

  test('unknown routes are 404 JSON', async () => {
    expect(await engine.api('GET', '/nope', undefined, null)).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'no route GET /nope; see GET /openapi.json' } },
    });
    expect((await engine.api('PUT', '/v1/databases')).status).toBe(404);
  });
});
