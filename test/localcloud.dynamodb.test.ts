import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateTableCommand,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { startDynalite } from '../src/localcloud/dynalite';
import { createLogger } from '../src/logger';
import { awsCli, dynamoClient as dynamo, listeningSockets, newAccount, openStores, signedRequest } from './support/localcloud';

const logger = createLogger('silent');

const onDemand = (name: string): CreateTableCommandInput => ({
  TableName: name,
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'N' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
});
const provisioned = (name: string, read = 5, write = 5): CreateTableCommandInput => ({
  TableName: name,
  BillingMode: 'PROVISIONED',
  ProvisionedThroughput: { ReadCapacityUnits: read, WriteCapacityUnits: write },
  AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
});
const waiter = (client: DynamoDBClient) => ({ client, maxWaitTime: 10, minDelay: 1, maxDelay: 1 });

describe('DynamoDB in the local cloud, through @aws-sdk/client-dynamodb', () => {
  let cloud: LocalCloud;
  let account: LocalAccount;
  let ddb: DynamoDBClient;
  beforeAll(async () => {
    cloud = await startLocalCloud({ port: 0, logger });
    account = await newAccount(cloud);
    ddb = dynamo(cloud, account);
  });
  afterAll(() => cloud.stop());

  test('the endpoint is http on 127.0.0.1', () => {
    expect(cloud.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test("CreateTable on demand: ACTIVE at once, the waiter agrees, DescribeTable has the ARN of the region and the account", async () => {
    const created = await ddb.send(new CreateTableCommand(onDemand('orders')));
    expect(created.TableDescription).toMatchObject({ TableName: 'orders', BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' } });
    expect((await waitUntilTableExists(waiter(ddb), { TableName: 'orders' })).state).toBe('SUCCESS');
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: 'orders' }));
    expect(Table).toMatchObject({
      TableName: 'orders',
      TableStatus: 'ACTIVE',
      TableArn: `arn:aws:dynamodb:us-east-1:${account.accountId}:table/orders`,
      KeySchema: onDemand('orders').KeySchema,
      BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
      ProvisionedThroughput: { ReadCapacityUnits: 0, WriteCapacityUnits: 0 },
    });
  });

  test('CreateTable provisioned keeps the throughput', async () => {
    await ddb.send(new CreateTableCommand(provisioned('sessions', 3, 2)));
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: 'sessions' }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 3, WriteCapacityUnits: 2 });
    // Same as AWS: a second CreateTable of the name is refused.
    await expect(ddb.send(new CreateTableCommand(provisioned('sessions')))).rejects.toMatchObject({ name: 'ResourceInUseException' });
  });

  test('PutItem, GetItem, Query and Scan', async () => {
    for (const [pk, sk, amount] of [['alice', 1, 10], ['alice', 2, 25], ['bob', 1, 7]] as const) {
      await ddb.send(new PutItemCommand({ TableName: 'orders', Item: { pk: { S: pk }, sk: { N: String(sk) }, amount: { N: String(amount) } } }));
    }
    const got = await ddb.send(new GetItemCommand({ TableName: 'orders', Key: { pk: { S: 'alice' }, sk: { N: '2' } } }));
    expect(got.Item).toEqual({ pk: { S: 'alice' }, sk: { N: '2' }, amount: { N: '25' } });
    const query = await ddb.send(
      new QueryCommand({
        TableName: 'orders',
        KeyConditionExpression: 'pk = :pk AND sk >= :from',
        ExpressionAttributeValues: { ':pk': { S: 'alice' }, ':from': { N: '1' } },
        ScanIndexForward: false,
      }),
    );
    expect(query.Items?.map((i) => i.sk.N)).toEqual(['2', '1']);
    const scan = await ddb.send(new ScanCommand({ TableName: 'orders', FilterExpression: 'amount < :t', ExpressionAttributeValues: { ':t': { N: '20' } } }));
    expect(scan.Items?.map((i) => `${i.pk.S}/${i.sk.N}`).sort()).toEqual(['alice/1', 'bob/1']);
    expect(scan.ScannedCount).toBe(3);
  });

  test('UpdateTable: provisioned throughput, then billing mode both ways', async () => {
    await ddb.send(new UpdateTableCommand({ TableName: 'sessions', ProvisionedThroughput: { ReadCapacityUnits: 8, WriteCapacityUnits: 4 } }));
    let { Table } = await ddb.send(new DescribeTableCommand({ TableName: 'sessions' }));
    expect(Table).toMatchObject({ TableStatus: 'ACTIVE', ProvisionedThroughput: { ReadCapacityUnits: 8, WriteCapacityUnits: 4 } });

    await ddb.send(new UpdateTableCommand({ TableName: 'sessions', BillingMode: 'PAY_PER_REQUEST' }));
    ({ Table } = await ddb.send(new DescribeTableCommand({ TableName: 'sessions' })));
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');

    await ddb.send(
      new UpdateTableCommand({ TableName: 'sessions', BillingMode: 'PROVISIONED', ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 } }),
    );
    ({ Table } = await ddb.send(new DescribeTableCommand({ TableName: 'sessions' })));
    expect(Table).toMatchObject({ BillingModeSummary: { BillingMode: 'PROVISIONED' }, ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 } });
  });

  test('tables are regional: not listed in another region; one name in two regions is two tables', async () => {
    const west = dynamo(cloud, account, 'us-west-2');
    expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual(['orders', 'sessions']);
    expect((await west.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    await expect(west.send(new DescribeTableCommand({ TableName: 'orders' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });

    // The same name in us-west-2: its own table, its own ARN, its own items.
    await west.send(new CreateTableCommand(onDemand('orders')));
    expect((await west.send(new DescribeTableCommand({ TableName: 'orders' }))).Table?.TableArn).toBe(`arn:aws:dynamodb:us-west-2:${account.accountId}:table/orders`);
    expect((await west.send(new ScanCommand({ TableName: 'orders' }))).Count).toBe(0);
    expect((await ddb.send(new ScanCommand({ TableName: 'orders' }))).Count).toBe(3);

    // Deleting one leaves the other.
    await west.send(new DeleteTableCommand({ TableName: 'orders' }));
    expect((await waitUntilTableNotExists(waiter(west), { TableName: 'orders' })).state).toBe('SUCCESS');
    expect((await ddb.send(new DescribeTableCommand({ TableName: 'orders' }))).Table?.TableStatus).toBe('ACTIVE');
  });

  test('DeleteTable, and waitUntilTableNotExists', async () => {
    await ddb.send(new DeleteTableCommand({ TableName: 'sessions' }));
    expect((await waitUntilTableNotExists(waiter(ddb), { TableName: 'sessions' })).state).toBe('SUCCESS');
    expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual(['orders']);
    await expect(ddb.send(new DeleteTableCommand({ TableName: 'sessions' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  test('a service it does not emulate gets an error naming the ones it does', async () => {
    const res = await signedRequest(cloud.endpoint, account, { service: 'sqs', method: 'GET', path: '/' });
    expect(res.status).toBe(400);
    expect(res.headers['x-amzn-errortype']).toBe('UnsupportedServiceException');
    expect(JSON.parse(res.body)).toEqual({
      __type: 'UnsupportedServiceException',
      message: "the iasql local cloud does not emulate the 'sqs' service; it emulates: dynamodb, lambda, iam",
      supportedServices: ['dynamodb', 'lambda', 'iam'],
    });
  });

  test('an unsigned request is told how requests are routed; GET / says what is served', async () => {
    const res = await fetch(cloud.endpoint, { method: 'POST', body: '{}' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toContain('answers only requests signed with SigV4');
    expect(await (await fetch(cloud.endpoint)).json()).toEqual({ localCloud: 'iasql', services: ['dynamodb', 'lambda', 'iam'] });
  });
});

describe('DynamoDB data on disk', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-localcloud-'));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  test('accounts, tables and items survive a stop and a start, each account and region in its own directory', async () => {
    let cloud = await startLocalCloud({ port: 0, dataDir, logger });
    const account = await newAccount(cloud, 'kept_db');
    await dynamo(cloud, account).send(new CreateTableCommand(provisioned('kept')));
    await dynamo(cloud, account).send(new PutItemCommand({ TableName: 'kept', Item: { id: { S: 'a' }, v: { S: 'before stop' } } }));
    await dynamo(cloud, account, 'eu-west-1').send(new CreateTableCommand(onDemand('elsewhere')));
    await cloud.stop();
    expect(fs.readdirSync(path.join(dataDir, 'dynamodb', account.accountId)).sort()).toEqual(['eu-west-1', 'us-east-1']);
    // The file with the secrets is the owner's only.
    expect(fs.statSync(path.join(dataDir, 'accounts.json')).mode & 0o777).toBe(0o600);

    cloud = await startLocalCloud({ port: 0, dataDir, logger });
    try {
      expect(cloud.accounts.get('kept_db')).toEqual(account);
      // The same key works after the restart.
      expect((await dynamo(cloud, account).send(new ListTablesCommand({}))).TableNames).toEqual(['kept']);
      expect((await dynamo(cloud, account, 'eu-west-1').send(new ListTablesCommand({}))).TableNames).toEqual(['elsewhere']);
      const got = await dynamo(cloud, account).send(new GetItemCommand({ TableName: 'kept', Key: { id: { S: 'a' } } }));
      expect(got.Item?.v).toEqual({ S: 'before stop' });
      expect((await dynamo(cloud, account).send(new DescribeTableCommand({ TableName: 'kept' }))).Table?.TableStatus).toBe('ACTIVE');
    } finally {
      await cloud.stop();
    }
  });

  test('without a dataDir nothing is kept: not the account, not its tables', async () => {
    let cloud = await startLocalCloud({ port: 0, logger });
    const account = await newAccount(cloud, 'memory_db');
    await dynamo(cloud, account).send(new CreateTableCommand(provisioned('gone')));
    await cloud.stop();
    cloud = await startLocalCloud({ port: 0, logger });
    try {
      expect(cloud.accounts.get('memory_db')).toBeUndefined();
      await expect(dynamo(cloud, account).send(new ListTablesCommand({}))).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
      const again = await newAccount(cloud, 'memory_db');
      expect((await dynamo(cloud, again).send(new ListTablesCommand({}))).TableNames).toEqual([]);
    } finally {
      await cloud.stop();
    }
  });
});

describe('the AWS CLI against the local cloud', () => {
  test('aws dynamodb list-tables --endpoint-url sees a table made through the SDK', async () => {
    const cloud = await startLocalCloud({ port: 0, logger });
    try {
      const account = await newAccount(cloud);
      await dynamo(cloud, account).send(new CreateTableCommand(onDemand('from_sdk')));
      expect(await awsCli(cloud.endpoint, account)('dynamodb', 'list-tables')).toEqual({ TableNames: ['from_sdk'] });
    } finally {
      await cloud.stop();
    }
  });
});

describe('DynamoDB stores: opened on demand, a bounded number at once', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-localcloud-stores-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  test('at most maxOpenDynamoDb are open at once, none listening; a closed one reopens from its directory with its tables and items', async () => {
    const before = listeningSockets();
    const cloud = await startLocalCloud({ port: 0, dataDir, logger, maxOpenDynamoDb: 2 });
    try {
      // The endpoint itself; no store is opened before a request needs it.
      expect(listeningSockets()).toBe(before + 1);
      expect(openStores(dataDir)).toBe(0);
      const account = await newAccount(cloud);
      const regions = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'eu-west-1'];
      for (const region of regions) {
        const ddb = dynamo(cloud, account, region);
        await ddb.send(new CreateTableCommand(provisioned(`t_${region}`)));
        expect((await waitUntilTableExists(waiter(ddb), { TableName: `t_${region}` })).state).toBe('SUCCESS');
        await ddb.send(new PutItemCommand({ TableName: `t_${region}`, Item: { id: { S: 'k' }, v: { S: region } } }));
        expect(openStores(dataDir)).toBeGreaterThan(0);
        expect(openStores(dataDir)).toBeLessThanOrEqual(2);
      }
      for (const region of regions) {
        const ddb = dynamo(cloud, account, region);
        expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual([`t_${region}`]);
        expect((await ddb.send(new DescribeTableCommand({ TableName: `t_${region}` }))).Table?.TableStatus).toBe('ACTIVE');
        expect((await ddb.send(new GetItemCommand({ TableName: `t_${region}`, Key: { id: { S: 'k' } } }))).Item?.v).toEqual({ S: region });
        expect(openStores(dataDir)).toBeGreaterThan(0);
        expect(openStores(dataDir)).toBeLessThanOrEqual(2);
      }
    } finally {
      await cloud.stop();
    }
    // Only the endpoint ever listened.
    expect(listeningSockets()).toBe(before);
    expect(openStores(dataDir)).toBe(0);
  });

  test('a store that cannot open (its directory locked by another process) answers 500, and the engine goes on', async () => {
    const first = await startLocalCloud({ port: 0, dataDir, logger });
    const account = await newAccount(first, 'locked_db');
    // `first` opens, and so locks, the account's us-east-1 store.
    expect((await dynamo(first, account).send(new ListTablesCommand({}))).TableNames).toEqual([]);
    // A second local cloud on the same data directory knows the same account (accounts.json).
    const second = await startLocalCloud({ port: 0, dataDir, logger });
    try {
      const err = await dynamo(second, account)
        .send(new ListTablesCommand({}))
        .then(() => undefined, (e: { name: string; message: string; $metadata: { httpStatusCode?: number } }) => e);
      expect(err?.$metadata.httpStatusCode).toBe(500);
      expect(err?.message).toMatch(/cannot open local DynamoDB for \d{12} in us-east-1: .*lock/i);
      await first.stop();
      // Nothing was left half-open: the next request opens the store.
      expect((await dynamo(second, account).send(new ListTablesCommand({}))).TableNames).toEqual([]);
    } finally {
      await first.stop();
      await second.stop();
    }
  });
});

describe('a store being closed', () => {
  // dynalite throws from its callbacks when its LevelDB is closed, which no caller can catch: a
  // request that reached a closed store ended the process (seen when a table's settle check ran
  // on while the local cloud stopped).
  test('refuses requests once its close began, after letting those under way finish', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-store-'));
    try {
      const store = await startDynalite(dir, '111111111111', 'us-east-1', createLogger('silent'));
      // What the endpoint hands a store once it has verified the signature (dynalite wants one there).
      const headers = {
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        'content-type': 'application/x-amz-json-1.0',
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261208/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00',
        'x-amz-date': '20261208T000000Z',
      };
      const list = { method: 'POST', url: '/', headers, body: Buffer.from('{}') };
      const under = store.request(list);
      const closed = store.close();
      expect((await under).status).toBe(200);
      await closed;
      await expect(store.request(list)).rejects.toThrow('local DynamoDB for 111111111111 in us-east-1 is closed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
