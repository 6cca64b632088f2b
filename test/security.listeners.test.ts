import { CreateTableCommand, ListTablesCommand, PutItemCommand, ScanCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { startTestEngine, stopTestEngine, TEST_TOKEN, type TestEngine } from './support/engine';
import { dynamoClient, lambdaClient, newAccount } from './support/localcloud';
import { answerBody, finalStatus, processListeners, rawExchange, RawRequest, type Listener } from './support/raw-http';

/**
 * What a hostile process on the host (a Lambda handler, another user) can do to the engine's
 * listeners with nothing but a socket: find them in /proc, send them half a request, garbage, or
 * a header that never ends, and make the local cloud buffer bodies it cannot yet check. The engine
 * here is this process: its REST API (an engine without a local cloud of its own) and a local
 * cloud started next to it, on loopback.
 */

const logger = createLogger('silent');
const MiB = 1024 * 1024;
/** The largest bodies each service takes (docs/security.md, "Local cloud: listeners and request bodies"). */
const DYNAMODB_MAX = 16 * MiB;
const LAMBDA_MAX = 69_905_067;

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
  /** The signing name in the scope: a service it emulates, or any other. */
  service: string;
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
  const type = service === 'iam' ? 'application/x-www-form-urlencoded' : service === 'lambda' ? 'application/json' : 'application/x-amz-json-1.0';
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
        expect(answer.received).toContain('malformed HTTP request');
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
      expect(r.received).toContain('the request did not arrive in time: send its headers within 10 s');
      return finalStatus(r.received);
    };
    expect(await Promise.all([slow(cloudPort), slow(apiPort)])).toEqual([408, 408]);
    await stillServing();
  }, 30_000);
});

describe('request bodies are capped and counted before they are read', () => {
  test("a body declared over its service's limit is answered 413, in the service's shape, before any of it is sent, and the connection closes", async () => {
    const cases = [
      { service: 'dynamodb', length: DYNAMODB_MAX + 1, type: /"__type":"RequestEntityTooLarge"/ },
      // Lambda (REST-JSON) names its error in a header.
      { service: 'lambda', length: LAMBDA_MAX + 1, path: '/2015-03-31/functions', type: /^x-amzn-errortype: RequestEntityTooLargeException\r$/im },
      { service: 'iam', length: DYNAMODB_MAX + 1, type: /<Code>RequestEntityTooLarge<\/Code>/ },
    ];
    for (const { service, length, path, type } of cases) {
      const r = new RawRequest(cloudPort, forgedHead({ key: a.accessKeyId, service, length, path }));
      await r.waitClosed();
      expect({ service, status: finalStatus(r.received) }).toEqual({ service, status: 413 });
      expect(service === 'lambda' ? r.received : answerBody(r.received)).toMatch(type);
    }
    await stillServing();
  });

  test('a chunked body is cut off as soon as it passes the limit: 413, and the server closes the connection', async () => {
    const r = new RawRequest(cloudPort, forgedHead({ key: a.accessKeyId, service: 'dynamodb' }));
    const piece = Buffer.concat([Buffer.from(`${MiB.toString(16)}\r\n`), Buffer.alloc(MiB, 'x'), Buffer.from('\r\n')]);
    let sent = 0;
    // Stops once the server answers or goes; at most four times the limit otherwise.
    while (!/HTTP\/1\.1/.test(r.received) && !r.closed && sent < 4 * DYNAMODB_MAX) {
      if (!(await r.write(piece))) break;
      sent += MiB;
    }
    await r.waitClosed();
    expect(finalStatus(r.received)).toBe(413);
    expect(answerBody(r.received)).toMatch(/"__type":"RequestEntityTooLarge".*more than 16777216 bytes, chunked/);
    // The rest is not read: the server says so, rather than keep the connection and drain it.
    expect(r.received).toMatch(/^connection: close\r$/im);
    await stillServing();
  });

  test("one key's bodies in memory are bounded: the body that would pass its budget is throttled before it is sent, across services; another key is not; the budget comes back", async () => {
    const big = 60 * MiB;
    const lambdaHead = (key: string) => forgedHead({ key, service: 'lambda', path: '/2015-03-31/functions', length: big, expectContinue: true });
    // Two of A's 60 MB bodies fit its budget (twice Lambda's 70 MB limit): each is told to go on.
    const inFlight = [new RawRequest(cloudPort, lambdaHead(a.accessKeyId)), new RawRequest(cloudPort, lambdaHead(a.accessKeyId))];
    for (const r of inFlight) {
      await r.waitFor(/^HTTP\/1\.1 100 Continue/);
      await r.write(Buffer.alloc(MiB, '{'));
    }
    // A third, and a 15 MB DynamoDB body of the same key, would pass it: refused at once, unread.
    const third = new RawRequest(cloudPort, lambdaHead(a.accessKeyId));
    await third.waitClosed();
    expect(finalStatus(third.received)).toBe(429);
    expect(JSON.parse(answerBody(third.received))).toMatchObject({ __type: 'TooManyRequestsException', message: expect.stringContaining(`too many request bodies at once for access key ${a.accessKeyId}`) });
    const dynamo = new RawRequest(cloudPort, forgedHead({ key: a.accessKeyId, service: 'dynamodb', length: 15 * MiB, expectContinue: true }));
    await dynamo.waitClosed();
    expect(finalStatus(dynamo.received)).toBe(400);
    expect(JSON.parse(answerBody(dynamo.received)).__type).toBe('ThrottlingException');
    // A scope naming no service, even one named like an Object property, is counted (and answered) the same.
    for (const service of ['sqs', 'constructor']) {
      const other = new RawRequest(cloudPort, forgedHead({ key: a.accessKeyId, service, length: 15 * MiB, expectContinue: true }));
      await other.waitClosed();
      expect({ service, status: finalStatus(other.received), type: JSON.parse(answerBody(other.received)).__type }).toEqual({ service, status: 400, type: 'ThrottlingException' });
    }
    // B is not held up by A: its own 60 MB body goes on, and its SDK calls work.
    const bBody = new RawRequest(cloudPort, lambdaHead(b.accessKeyId));
    await bBody.waitFor(/^HTTP\/1\.1 100 Continue/);
    expect((await lambdaClient(cloud, b).send(new ListFunctionsCommand({}))).Functions).toEqual([]);

    // The bodies in flight, sent whole, reach the signature check (and fail it).
    for (const r of [...inFlight, bBody]) {
      await r.write(Buffer.alloc(big - (r === bBody ? 0 : MiB), '{'));
      await r.waitFor(/\r\n\r\n\{.*\}$/s);
      expect(finalStatus(r.received)).toBe(403);
      expect(JSON.parse(answerBody(r.received)).__type).toBe('InvalidSignatureException');
      r.destroy();
    }
    // Answered, they hold nothing: two more of A's are told to go on; cut short, those give it back too.
    for (let round = 0; round < 2; round++) {
      const again = [await accepted(lambdaHead(a.accessKeyId)), await accepted(lambdaHead(a.accessKeyId))];
      for (const r of again) r.destroy();
    }
    await stillServing();
  }, 60_000);
});

/**
 * A request that the local cloud tells to go on (100 Continue). The budget of a request whose
 * client just went away comes back when the server has seen it go, a moment later: a bounded
 * number of tries, each refused at once if the budget is not back yet.
 */
async function accepted(head: string): Promise<RawRequest> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = new RawRequest(cloudPort, head);
    const answer = await r.waitFor(/^HTTP\/1\.1 \d{3}/).catch(() => '');
    if (/^HTTP\/1\.1 100 /.test(answer)) return r;
    expect(finalStatus(answer) ?? 429).toBe(429);
    r.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the local cloud kept refusing a body within the budget: what earlier requests held never came back');
}
