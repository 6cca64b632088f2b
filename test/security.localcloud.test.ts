import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  ScanCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, DeleteRoleCommand, GetRoleCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  InvokeCommand,
  ListFunctionsCommand,
  ListTagsCommand,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import {
  alive,
  awsCli,
  awsCliFailure,
  dynamoClient,
  eventually,
  iamClient,
  lambdaChildren,
  lambdaClient,
  lambdaRole,
  listeningSockets,
  newAccount,
  openStores,
  rawRequest,
  signedHeaders,
  signedRequest,
  zip,
} from './support/localcloud';

const logger = createLogger('silent');
const table = (name: string): CreateTableCommandInput => ({
  TableName: name,
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
});
/** CreateTable, then the waiter: dynalite, like DynamoDB, answers before the table is ACTIVE. */
async function createTable(client: DynamoDBClient, name: string): Promise<string> {
  const arn = (await client.send(new CreateTableCommand(table(name)))).TableDescription!.TableArn!;
  await waitUntilTableExists({ client, maxWaitTime: 10, minDelay: 1 }, { TableName: name });
  return arn;
}
const COUNTER = 'let n = 0; exports.handler = async () => ({ n: ++n, pid: process.pid });';

/** The name of the error a call fails with (the test fails if it succeeds). */
async function errorOf(call: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  const err = await call.then(
    () => undefined,
    (e: { name: string; message: string; $metadata?: { httpStatusCode?: number } }) => e,
  );
  if (!err) throw new Error('expected the call to fail');
  return { name: err.name, message: err.message, status: err.$metadata?.httpStatusCode };
}

let dataDir: string;
let cloud: LocalCloud;
let a: LocalAccount;
let b: LocalAccount;
let aFunctionArn: string;
let aRoleArn: string;
let aTableArn: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-security-'));
  cloud = await startLocalCloud({ port: 0, logger, dataDir });
  a = await newAccount(cloud, 'tenant_a');
  b = await newAccount(cloud, 'tenant_b');
  const ddb = dynamoClient(cloud, a);
  aTableArn = await createTable(ddb, 'a_orders');
  await ddb.send(new PutItemCommand({ TableName: 'a_orders', Item: { id: { S: 'secret' }, v: { S: "A's data" } } }));
  aRoleArn = await lambdaRole(cloud, a, 'a-role');
  const created = await lambdaClient(cloud, a).send(
    new CreateFunctionCommand({ FunctionName: 'a-fn', Runtime: 'nodejs20.x', Role: aRoleArn, Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': COUNTER }) } }),
  );
  aFunctionArn = created.FunctionArn!;
});
afterAll(async () => {
  await cloud?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
  expect(lambdaChildren()).toEqual([]);
});

/** A's table (with its item), function and role, all as A left them. */
async function expectAIntact(): Promise<void> {
  const got = await dynamoClient(cloud, a).send(new GetItemCommand({ TableName: 'a_orders', Key: { id: { S: 'secret' } } }));
  expect(got.Item?.v).toEqual({ S: "A's data" });
  expect((await lambdaClient(cloud, a).send(new GetFunctionCommand({ FunctionName: 'a-fn' }))).Configuration?.FunctionArn).toBe(aFunctionArn);
  expect((await iamClient(cloud, a).send(new GetRoleCommand({ RoleName: 'a-role' }))).Role?.Arn).toBe(aRoleArn);
}

describe('accounts: ids, keys and ARNs', () => {
  test('each account has its own 12-digit id, AKIA key and 40-character secret, in the ARNs of what it owns', () => {
    for (const account of [a, b]) {
      expect(account.accountId).toMatch(/^\d{12}$/);
      expect(account.accessKeyId).toMatch(/^AKIA[A-Z0-9]{16}$/);
      expect(account.secretAccessKey).toHaveLength(40);
    }
    expect(new Set([a.accountId, b.accountId, '000000000000']).size).toBe(3);
    expect(a.accessKeyId).not.toBe(b.accessKeyId);
    expect(aTableArn).toBe(`arn:aws:dynamodb:us-east-1:${a.accountId}:table/a_orders`);
    expect(aFunctionArn).toBe(`arn:aws:lambda:us-east-1:${a.accountId}:function:a-fn`);
    expect(aRoleArn).toBe(`arn:aws:iam::${a.accountId}:role/a-role`);
  });
});

describe("B cannot list, read, change or delete A's resources (AWS SDK)", () => {
  test('DynamoDB: not listed; DescribeTable, Scan, GetItem, PutItem, DeleteTable: not found; by ARN neither', async () => {
    const ddb: DynamoDBClient = dynamoClient(cloud, b);
    expect((await ddb.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    for (const call of [
      ddb.send(new DescribeTableCommand({ TableName: 'a_orders' })),
      ddb.send(new ScanCommand({ TableName: 'a_orders' })),
      ddb.send(new GetItemCommand({ TableName: 'a_orders', Key: { id: { S: 'secret' } } })),
      ddb.send(new PutItemCommand({ TableName: 'a_orders', Item: { id: { S: 'secret' }, v: { S: 'overwritten by B' } } })),
      ddb.send(new DeleteTableCommand({ TableName: 'a_orders' })),
    ]) {
      expect((await errorOf(call)).name).toBe('ResourceNotFoundException');
    }
    // An ARN naming A's account does not reach it either.
    expect((await errorOf(ddb.send(new DescribeTableCommand({ TableName: aTableArn })))).name).toMatch(/ResourceNotFoundException|ValidationException/);
    // B's table of the same name is B's own.
    expect(await createTable(ddb, 'a_orders')).toBe(`arn:aws:dynamodb:us-east-1:${b.accountId}:table/a_orders`);
    expect((await ddb.send(new ScanCommand({ TableName: 'a_orders' }))).Count).toBe(0);
    await ddb.send(new DeleteTableCommand({ TableName: 'a_orders' }));
    await expectAIntact();
  });

  test("Lambda: not listed; get, invoke, update, delete, tags: not found, by name or by A's ARN; A's role cannot be used", async () => {
    const lambda = lambdaClient(cloud, b);
    expect((await lambda.send(new ListFunctionsCommand({}))).Functions).toEqual([]);
    for (const name of ['a-fn', aFunctionArn, `${a.accountId}:function:a-fn`]) {
      for (const call of [
        lambda.send(new GetFunctionCommand({ FunctionName: name })),
        lambda.send(new InvokeCommand({ FunctionName: name })),
        lambda.send(new UpdateFunctionCodeCommand({ FunctionName: name, ZipFile: zip({ 'index.js': 'exports.handler = async () => "B was here";' }) })),
        lambda.send(new DeleteFunctionCommand({ FunctionName: name })),
      ]) {
        expect((await errorOf(call)).name).toBe('ResourceNotFoundException');
      }
    }
    expect((await errorOf(lambda.send(new ListTagsCommand({ Resource: aFunctionArn })))).name).toBe('ResourceNotFoundException');
    // A function of B's may not run as A's role.
    const borrowed = await errorOf(
      lambda.send(new CreateFunctionCommand({ FunctionName: 'b-fn', Runtime: 'nodejs20.x', Role: aRoleArn, Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': COUNTER }) } })),
    );
    expect(borrowed).toMatchObject({ name: 'InvalidParameterValueException', message: 'The role defined for the function cannot be assumed by Lambda.' });
    const invoked = await lambdaClient(cloud, a).send(new InvokeCommand({ FunctionName: 'a-fn' }));
    expect(JSON.parse(Buffer.from(invoked.Payload!).toString())).toMatchObject({ n: expect.any(Number) });
    await expectAIntact();
  });

  test('IAM: not listed; GetRole and DeleteRole: NoSuchEntity; a role of the same name is B\'s own', async () => {
    const iam = iamClient(cloud, b);
    expect((await iam.send(new ListRolesCommand({}))).Roles).toEqual([]);
    expect((await errorOf(iam.send(new GetRoleCommand({ RoleName: 'a-role' })))).name).toBe('NoSuchEntityException');
    expect((await errorOf(iam.send(new DeleteRoleCommand({ RoleName: 'a-role' })))).name).toBe('NoSuchEntityException');
    const { Role } = await iam.send(new CreateRoleCommand({ RoleName: 'a-role', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }));
    expect(Role?.Arn).toBe(`arn:aws:iam::${b.accountId}:role/a-role`);
    await iam.send(new DeleteRoleCommand({ RoleName: 'a-role' }));
    await expectAIntact();
  });

  test("GetFunction's code link is signed with A's key: A downloads it; changed or unsigned, it is refused", async () => {
    const { Code } = await lambdaClient(cloud, a).send(new GetFunctionCommand({ FunctionName: 'a-fn' }));
    const location = new URL(Code!.Location!);
    expect(location.searchParams.get('X-Amz-Credential')).toMatch(new RegExp(`^${a.accessKeyId}/\\d{8}/us-east-1/lambda/aws4_request$`));
    expect((await fetch(location)).status).toBe(200);
    const otherName = new URL(location);
    otherName.pathname = otherName.pathname.replace('/a-fn/', '/b-fn/');
    expect((await fetch(otherName)).status).toBe(403);
    const unsigned = new URL(location);
    unsigned.search = `?X-Amz-Credential=${encodeURIComponent(location.searchParams.get('X-Amz-Credential')!)}`;
    const refused = await fetch(unsigned);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { __type: string }).__type).toBe('IncompleteSignatureException');
  });
});

describe("B cannot list, read, change or delete A's resources (AWS CLI)", () => {
  test('dynamodb, lambda and iam commands as B see nothing of A and change nothing', async () => {
    const asB = awsCli(cloud.endpoint, b);
    expect(await asB('dynamodb', 'list-tables')).toEqual({ TableNames: [] });
    expect(await asB('lambda', 'list-functions')).toEqual({ Functions: [] });
    expect((await asB('iam', 'list-roles')).Roles).toEqual([]);
    const expectations: Array<[string[], string]> = [
      [['dynamodb', 'describe-table', '--table-name', 'a_orders'], 'ResourceNotFoundException'],
      [['dynamodb', 'scan', '--table-name', 'a_orders'], 'ResourceNotFoundException'],
      [['dynamodb', 'delete-table', '--table-name', 'a_orders'], 'ResourceNotFoundException'],
      [['lambda', 'get-function', '--function-name', 'a-fn'], 'ResourceNotFoundException'],
      [['lambda', 'get-function', '--function-name', aFunctionArn], 'ResourceNotFoundException'],
      [['lambda', 'invoke', '--function-name', 'a-fn', path.join(dataDir, 'b-out.json')], 'ResourceNotFoundException'],
      [['lambda', 'delete-function', '--function-name', 'a-fn'], 'ResourceNotFoundException'],
      [['iam', 'get-role', '--role-name', 'a-role'], 'NoSuchEntity'],
      [['iam', 'delete-role', '--role-name', 'a-role'], 'NoSuchEntity'],
    ];
    // Side by side: each CLI run is mostly Python starting up.
    const failures = await Promise.all(expectations.map(([args]) => awsCliFailure(asB(...args))));
    expect(failures.map((f) => /\((\w+)\)/.exec(f.stderr)?.[1])).toEqual(expectations.map(([, type]) => type));
    // The same commands as A work: the refusals above are about the account, not the commands.
    const asA = awsCli(cloud.endpoint, a);
    expect((await asA('dynamodb', 'describe-table', '--table-name', 'a_orders')).Table.TableArn).toBe(aTableArn);
    expect((await asA('lambda', 'get-function', '--function-name', 'a-fn')).Configuration.FunctionArn).toBe(aFunctionArn);
    expect((await asA('iam', 'get-role', '--role-name', 'a-role')).Role.Arn).toBe(aRoleArn);
    await expectAIntact();
    // Fifteen AWS CLI runs (each starts Python): generous on a loaded 2-core machine.
  }, 180_000);
});

describe('keys and signatures', () => {
  test('an unknown key: UnrecognizedClientException (DynamoDB, Lambda), InvalidClientTokenId (IAM), 403; with the CLI too', async () => {
    const unknown = { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: a.secretAccessKey };
    const expected = { message: 'The security token included in the request is invalid.', status: 403 };
    expect(await errorOf(dynamoClient(cloud, unknown).send(new ListTablesCommand({})))).toEqual({ name: 'UnrecognizedClientException', ...expected });
    expect(await errorOf(lambdaClient(cloud, unknown).send(new ListFunctionsCommand({})))).toEqual({ name: 'UnrecognizedClientException', ...expected });
    expect(await errorOf(iamClient(cloud, unknown).send(new ListRolesCommand({})))).toEqual({ name: 'InvalidClientTokenId', ...expected });
    expect((await awsCliFailure(awsCli(cloud.endpoint, unknown)('dynamodb', 'list-tables'))).stderr).toContain('(UnrecognizedClientException)');
  });

  test("A's key id with another secret: InvalidSignatureException (DynamoDB, Lambda), SignatureDoesNotMatch (IAM), 403; with the CLI too", async () => {
    const forged = { accessKeyId: a.accessKeyId, secretAccessKey: b.secretAccessKey };
    expect(await errorOf(dynamoClient(cloud, forged).send(new ScanCommand({ TableName: 'a_orders' })))).toMatchObject({ name: 'InvalidSignatureException', status: 403 });
    expect(await errorOf(lambdaClient(cloud, forged).send(new InvokeCommand({ FunctionName: 'a-fn' })))).toMatchObject({ name: 'InvalidSignatureException', status: 403 });
    expect(await errorOf(iamClient(cloud, forged).send(new DeleteRoleCommand({ RoleName: 'a-role' })))).toMatchObject({ name: 'SignatureDoesNotMatch', status: 403 });
    for (const args of [
      ['dynamodb', 'delete-table', '--table-name', 'a_orders'],
      ['lambda', 'delete-function', '--function-name', 'a-fn'],
    ]) {
      expect((await awsCliFailure(awsCli(cloud.endpoint, forged)(...args))).stderr).toContain('(InvalidSignatureException)');
    }
    expect((await awsCliFailure(awsCli(cloud.endpoint, forged)('iam', 'delete-role', '--role-name', 'a-role'))).stderr).toContain('(SignatureDoesNotMatch)');
    await expectAIntact();
  });

  test('a captured request replayed with another body or another operation is refused; the original is accepted', async () => {
    const put = (v: string) => JSON.stringify({ TableName: 'a_orders', Item: { id: { S: 'replayed' }, v: { S: v } } });
    // As the SDK signs (x-amz-content-sha256 sent), and as botocore signs (no such header: the body is hashed).
    for (const applyChecksum of [true, false]) {
      const request = { service: 'dynamodb', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' }, body: put('original') };
      const headers = await signedHeaders(cloud.endpoint, a, { ...request, applyChecksum });
      expect('x-amz-content-sha256' in headers).toBe(applyChecksum);
      expect((await rawRequest(cloud.endpoint, { ...request, headers })).status).toBe(200);
      const tampered = await rawRequest(cloud.endpoint, { ...request, headers, body: put('tampered') });
      expect(tampered.status).toBe(403);
      expect(JSON.parse(tampered.body).__type).toBe('InvalidSignatureException');
      const otherOperation = await rawRequest(cloud.endpoint, { ...request, headers: { ...headers, 'x-amz-target': 'DynamoDB_20120810.DeleteTable' }, body: JSON.stringify({ TableName: 'a_orders' }) });
      expect(otherOperation.status).toBe(403);
    }
    const got = await dynamoClient(cloud, a).send(new GetItemCommand({ TableName: 'a_orders', Key: { id: { S: 'replayed' } } }));
    expect(got.Item?.v).toEqual({ S: 'original' });
    await expectAIntact();
  });

  test('a request signed more than 15 minutes ago, or ahead, is refused', async () => {
    const request = { service: 'dynamodb', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}' };
    const old = await signedRequest(cloud.endpoint, a, { ...request, signingDate: new Date(Date.now() - 16 * 60_000) });
    expect(old.status).toBe(403);
    expect(JSON.parse(old.body)).toMatchObject({ __type: 'InvalidSignatureException', message: expect.stringMatching(/^Signature expired: /) });
    const ahead = await signedRequest(cloud.endpoint, a, { ...request, signingDate: new Date(Date.now() + 16 * 60_000) });
    expect(ahead.status).toBe(403);
    expect(JSON.parse(ahead.body).message).toMatch(/^Signature not yet current: /);
    // Within the window it is accepted.
    expect((await signedRequest(cloud.endpoint, a, { ...request, signingDate: new Date(Date.now() - 10 * 60_000) })).status).toBe(200);
  });

  test('an unsigned request: MissingAuthenticationTokenException (403), nothing created', async () => {
    const res = await rawRequest(cloud.endpoint, {
      path: '/',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.CreateTable' },
      body: JSON.stringify(table('unsigned')),
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).__type).toBe('MissingAuthenticationTokenException');
    expect((await dynamoClient(cloud, a).send(new ListTablesCommand({}))).TableNames).toEqual(['a_orders']);
  });
});

describe('what a web page can send is refused, and creates nothing', () => {
  const createTable = (name: string) => ({
    service: 'dynamodb',
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.CreateTable' },
    body: JSON.stringify(table(name)),
  });
  const tables = async () => (await dynamoClient(cloud, a).send(new ListTablesCommand({}))).TableNames;

  test('an Origin header, even on a validly signed request', async () => {
    const request = createTable('from_origin');
    const headers = await signedHeaders(cloud.endpoint, a, request);
    const res = await rawRequest(cloud.endpoint, { ...request, headers: { ...headers, origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ __type: 'AccessDeniedException', message: expect.stringContaining('Origin header') });
    expect(await tables()).toEqual(['a_orders']);
  });

  test('a text/plain POST with the credential scope in the query string (a form or a no-cors fetch)', async () => {
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    const res = await rawRequest(cloud.endpoint, {
      path: `/?X-Amz-Credential=${encodeURIComponent(`${a.accessKeyId}/${day}/us-east-1/dynamodb/aws4_request`)}`,
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(table('from_form')),
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).__type).toBe('IncompleteSignatureException');
    expect(await tables()).toEqual(['a_orders']);
  });

  test('a text/plain or multipart body to DynamoDB or Lambda, even validly signed', async () => {
    for (const type of ['text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) {
      const request = createTable('simple_type');
      const res = await signedRequest(cloud.endpoint, a, { ...request, headers: { ...request.headers, 'content-type': type } });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body).message).toContain(`refuses dynamodb requests with a ${type.split(';')[0]} body`);
    }
    const invoke = await signedRequest(cloud.endpoint, a, { service: 'lambda', path: '/2015-03-31/functions/a-fn/invocations', headers: { 'content-type': 'text/plain' }, body: '{}' });
    expect(invoke.status).toBe(403);
    expect(await tables()).toEqual(['a_orders']);
  });

  test('a Host that is not a loopback name (DNS rebinding), even validly signed; loopback names are served', async () => {
    const port = new URL(cloud.endpoint).port;
    const request = createTable('rebound');
    const rebound = await signedRequest(cloud.endpoint, a, { ...request, host: `evil.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).message).toContain('loopback host');
    expect(await tables()).toEqual(['a_orders']);
    const list = { service: 'dynamodb', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}' };
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      expect((await signedRequest(cloud.endpoint, a, { ...list, host })).status).toBe(200);
    }
  });
});

describe('regions and bounded resources', () => {
  test('a made-up region is refused with a clear message (SDK and CLI)', async () => {
    const err = await errorOf(dynamoClient(cloud, a, 'moon-east-1').send(new ListTablesCommand({})));
    expect(err).toEqual({ name: 'UnsupportedRegionException', status: 400, message: expect.stringContaining("'moon-east-1' is not an AWS region") });
    expect((await errorOf(lambdaClient(cloud, a, 'moon-east-1').send(new ListFunctionsCommand({})))).name).toBe('UnsupportedRegionException');
    expect((await awsCliFailure(awsCli(cloud.endpoint, a, 'moon-east-1')('dynamodb', 'list-tables'))).stderr).toContain('(UnsupportedRegionException)');
    // The newer regions are real.
    for (const region of ['ap-south-2', 'ap-southeast-7', 'mx-central-1', 'il-central-1', 'ca-west-1']) {
      expect((await dynamoClient(cloud, a, region).send(new ListTablesCommand({}))).TableNames).toEqual([]);
    }
  });

  test("a service named like an Object property ('constructor', the one such name a scope can carry) is not emulated: 400 UnsupportedServiceException, not a 500", async () => {
    const res = await signedRequest(cloud.endpoint, a, { service: 'constructor', path: '/', headers: { 'content-type': 'application/x-amz-json-1.0' }, body: '{}' });
    expect({ status: res.status, type: JSON.parse(res.body).__type }).toEqual({ status: 400, type: 'UnsupportedServiceException' });
  });

  test('200 distinct made-up regions start no DynamoDB store: no open store, no socket, no directory', async () => {
    const stores = openStores(dataDir);
    const sockets = listeningSockets();
    const dirs = fs.readdirSync(path.join(dataDir, 'dynamodb', a.accountId)).sort();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        signedRequest(cloud.endpoint, a, { service: 'dynamodb', region: `bogus-${i}-1`, path: '/', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.ListTables' }, body: '{}' }),
      ),
    );
    expect(new Set(answers.map((r) => r.status))).toEqual(new Set([400]));
    expect(openStores(dataDir)).toBe(stores);
    expect(listeningSockets()).toBe(sockets);
    expect(fs.readdirSync(path.join(dataDir, 'dynamodb', a.accountId)).sort()).toEqual(dirs);
  });
});

describe('removing an account', () => {
  test('remove(label) leaves nothing: the key is refused, a new account of the label sees nothing, warm instances end, no files', async () => {
    const owner = await newAccount(cloud, 'tenant_gone');
    for (const region of ['us-east-1', 'eu-west-1']) {
      await createTable(dynamoClient(cloud, owner, region), 'gone_table');
      await dynamoClient(cloud, owner, region).send(new PutItemCommand({ TableName: 'gone_table', Item: { id: { S: 'x' } } }));
    }
    const role = await lambdaRole(cloud, owner, 'gone-role');
    await lambdaClient(cloud, owner).send(
      new CreateFunctionCommand({ FunctionName: 'gone-fn', Runtime: 'nodejs20.x', Role: role, Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': COUNTER }) } }),
    );
    // The engine's child that runs the instance (as root, the handler is pid 1 of its own namespace).
    const before = lambdaChildren();
    await lambdaClient(cloud, owner).send(new InvokeCommand({ FunctionName: 'gone-fn' }));
    const [pid] = lambdaChildren().filter((p) => !before.includes(p));
    expect(alive(pid)).toBe(true);
    const owned = ['dynamodb', 'lambda', 'iam'].map((service) => path.join(dataDir, service, owner.accountId));
    expect(owned.every((dir) => fs.existsSync(dir))).toBe(true);

    await cloud.accounts.remove('tenant_gone');
    expect(cloud.accounts.get('tenant_gone')).toBeUndefined();
    expect((await errorOf(dynamoClient(cloud, owner).send(new ListTablesCommand({})))).name).toBe('UnrecognizedClientException');
    await eventually(() => !alive(pid), 10_000, 'the warm instance of the removed function to end');
    expect(owned.filter((dir) => fs.existsSync(dir))).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'accounts.json'), 'utf8')).accounts.map((x: LocalAccount) => x.label).sort()).toEqual(['tenant_a', 'tenant_b']);

    const fresh = await newAccount(cloud, 'tenant_gone');
    expect(fresh.accountId).not.toBe(owner.accountId);
    for (const region of ['us-east-1', 'eu-west-1']) {
      expect((await dynamoClient(cloud, fresh, region).send(new ListTablesCommand({}))).TableNames).toEqual([]);
    }
    expect((await lambdaClient(cloud, fresh).send(new ListFunctionsCommand({}))).Functions).toEqual([]);
    expect((await iamClient(cloud, fresh).send(new ListRolesCommand({}))).Roles).toEqual([]);
    // Removing an unknown label is a no-op.
    await cloud.accounts.remove('never-existed');
    await expectAIntact();
  });

  test('create(label) for a label that has an account replaces it, and what it owned', async () => {
    const first = await newAccount(cloud, 'tenant_renewed');
    await createTable(dynamoClient(cloud, first), 'old_table');
    const second = await newAccount(cloud, 'tenant_renewed');
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(cloud.accounts.get('tenant_renewed')).toEqual(second);
    expect((await errorOf(dynamoClient(cloud, first).send(new ListTablesCommand({})))).name).toBe('UnrecognizedClientException');
    expect((await dynamoClient(cloud, second).send(new ListTablesCommand({}))).TableNames).toEqual([]);
  });
});
