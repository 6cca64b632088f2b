import { CreateTableCommand, ListTablesCommand, PutItemCommand, ScanCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { startTestEngine, stopTestEngine, TEST_TOKEN, type TestEngine } from './support/engine';
import { dynamoClient, newAccount } from './support/localcloud';
import { finalStatus, processListeners, rawExchange, RawRequest, type Listener } from './support/raw-http';

/**
 * What a hostile process on the host (a Lambda handler, another user) can do to the engine's
 * listeners with nothing but a socket: find them in /proc, send them half a request, garbage, or
 * a header that never ends, and make the local cloud buffer bodies it cannot yet check. The engine
 * here is this process: its REST API (an engine without a local cloud of its own) and a local
 * cloud started next to it, on loopback.
 */

const logger = createLogger('silent');

let before: Listener[];
let engine: TestEngine;
let cloud: LocalCloud;
let a: LocalAccount;
let b: LocalAccount;
let cloudPort: number;
let apiPort: number;

beforeAll(async () => {
  before = processListeners();
  engine = await startTestEngine({ localCloud: 'off' });
  cloud = await startLocalCloud({ port: 0, logger });
  a = await newAccount(cloud, 'listeners_a');
  b = await newAccount(cloud, 'listeners_b');
  cloudPort = Number(new URL(cloud.endpoint).port);
  apiPort = Number(new URL(engine.apiUrl).port);
});
afterAll(async () => {
  await cloud?.stop();
  await stopTestEngine(engine);
});

/** X-Amz-Date now, and its day. */
function amzNow(): { date: string; day: string } {
  const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return { date, day: date.slice(0, 8) };
}

interface ForgedHead {
  /** Access key id in the credential scope; the signature itself is made up. */
  key: string;
  service: 'dynamodb' | 'lambda' | 'iam';
  /** Content-Length; undefined: chunked. */
  length?: number;
  path?: string;
  expectContinue?: boolean;
}

/**
 * The head of a request as a tenant can write it with nothing but its own access key id (readable
 * in its database): a credential scope naming the key, and a signature it cannot compute.
 */
function forgedHead({ key, service, length, path = '/', expectContinue = false }: ForgedHead): string {
  const { date, day } = amzNow();
  const type = { dynamodb: 'application/x-amz-json-1.0', lambda: 'application/json', iam: 'application/x-www-form-urlencoded' }[service];
  return [
    `POST ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${cloudPort}`,
    `Content-Type: ${type}`,
    ...(service === 'dynamodb' ? ['X-Amz-Target: DynamoDB_20120810.ListTables'] : []),
    `X-Amz-Date: ${date}`,
    `Authorization: AWS4-HMAC-SHA256 Credential=${key}/${day}/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    length === undefined ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`,
    ...(expectContinue ? ['Expect: 100-continue'] : []),
    '',
    '',
  ].join('\r\n');
}

/** A normal request through each listener still succeeds. */
async function stillServing(): Promise<void> {
  expect((await dynamoClient(cloud, a).send(new ListTablesCommand({}))).TableNames).toBeDefined();
  expect(await engine.api('GET', '/health', undefined, null)).toMatchObject({ status: 200 });
}

describe('DynamoDB stores: nothing listens but the endpoint', () => {
  test('after DynamoDB requests of two accounts in two regions, the only listeners added are the REST API and the local cloud (TCP), and no unix socket', async () => {
    for (const account of [a, b]) {
      for (const region of ['us-east-1', 'eu-west-1']) {
        const ddb = dynamoClient(cloud, account, region);
        await ddb.send(new CreateTableCommand({ TableName: 'orders', BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] }));
        await waitUntilTableExists({ client: ddb, maxWaitTime: 10, minDelay: 1 }, { TableName: 'orders' });
        await ddb.send(new PutItemCommand({ TableName: 'orders', Item: { id: { S: `${account.label}-${region}` } } }));
        expect((await ddb.send(new ScanCommand({ TableName: 'orders' }))).Count).toBe(1);
      }
    }
    const added = processListeners().filter((l) => !before.some((x) => x.inode === l.inode));
    expect(added.filter((l) => l.kind === 'tcp').map((l) => l.port).sort()).toEqual([apiPort, cloudPort].sort());
    expect(added.filter((l) => l.kind === 'unix')).toEqual([]);
  });

  test("no TCP listener of this process hands out a store's tables for a made-up signature: the endpoint refuses it, nothing else answers DynamoDB", async () => {
    const { date, day } = amzNow();
    for (const { port } of processListeners().filter((l) => l.kind === 'tcp')) {
      const health = await rawExchange(port!, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      expect(health.received).not.toContain('healthy: dynamodb');
      for (const key of [a.accessKeyId, 'AKIAMADEUPKEY0000000']) {
        const body = '{}';
        const list = await rawExchange(
          port!,
          `POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nX-Amz-Date: ${date}\r\n` +
            `Authorization: AWS4-HMAC-SHA256 Credential=${key}/${day}/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
        expect(list.received).not.toContain('TableNames');
        if (port === cloudPort) expect(list.status).toBe(403);
      }
    }
  });
});

describe('aborted and malformed requests: every listener survives them', () => {
  const targets = () => [
    { name: 'local cloud', port: cloudPort, head: (length?: number) => forgedHead({ key: a.accessKeyId, service: 'dynamodb', length }) },
    {
      name: 'REST API',
      port: apiPort,
      head: (length?: number) =>
        `POST /v1/databases HTTP/1.1\r\nHost: 127.0.0.1:${apiPort}\r\nAuthorization: Bearer ${TEST_TOKEN}\r\nContent-Type: application/json\r\n` +
        (length === undefined ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`) +
        '\r\n\r\n',
    },
  ];

  test('a body cut short (Content-Length 1000, 5 bytes sent, socket gone) on every TCP listener this process added (the stores once had their own): the next request is served', async () => {
    for (const account of [a, b]) await dynamoClient(cloud, account).send(new ListTablesCommand({}));
    const added = processListeners().filter((l) => l.kind === 'tcp' && !before.some((x) => x.inode === l.inode));
    expect(added.length).toBeGreaterThanOrEqual(2);
    for (const { port } of added) {
      const head = forgedHead({ key: a.accessKeyId, service: 'dynamodb', length: 1000 }).replace(/Host: [^\r]+/, `Host: 127.0.0.1:${port}`);
      await rawExchange(port!, head + 'hello', { abort: true });
      await stillServing();
    }
  });

  test('a body cut short, a truncated chunked body, garbage, bad headers, a bad chunk, to the local cloud and the REST API: each is dropped or answered 400, and the next request is served', async () => {
    for (const { name, port, head } of targets()) {
      await rawExchange(port, head(1000) + 'hello', { abort: true });
      await stillServing();
      await rawExchange(port, head() + '5\r\nhello\r\n', { abort: true });
      await stillServing();
      for (const garbage of ['GARBAGE\r\n\r\n', `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Line\r\n\r\n`, `${head()}zz\r\nhello\r\n`]) {
        const answer = await rawExchange(port, garbage);
        expect({ name, garbage, status: answer.status, closed: answer.closed }).toEqual({ name, garbage, status: 400, closed: true });
        await stillServing();
      }
    }
  });

  test('a request whose headers never end (one byte every 500 ms) is answered 408 and closed within 20 s, on both listeners; the next request is served', async () => {
    const slow = async (port: number) => {
      const r = new RawRequest(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `);
      const drip = setInterval(() => void r.write('a'), 500);
      try {
        await r.waitClosed(20_000);
      } finally {
        clearInterval(drip);
        r.destroy();
      }
      return finalStatus(r.received);
    };
    expect(await Promise.all([slow(cloudPort), slow(apiPort)])).toEqual([408, 408]);
    await stillServing();
  }, 30_000);
});
