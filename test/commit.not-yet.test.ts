import { DescribeTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { Client } from 'pg';
import { stopTestEngine, TestEngine } from './support/engine';
import { dynamoClientAt } from './support/localcloud';
import { newDatabase, NewDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';
import { waitFor } from './support/wait';

// AWS is eventually consistent, and so is the engine: with the local cloud emulating the delay
// (IASQL_LOCAL_CLOUD_PROPAGATION_MS), commits that run into "not yet" errors retry the one call
// that failed until the cloud has caught up. SQL in as the tenant; the cloud checked through the SDK.
const PROPAGATION_MS = 2000;
const TRUST = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
const BASIC = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
const CODE = JSON.stringify({ 'index.js': 'exports.handler = async (e) => ({ total: e.a + e.b })' });

let engine: TestEngine;
let db: NewDatabase;
let c: Client;
let iam: IAMClient;
let lambda: LambdaClient;
const ddb = () => dynamoClientAt(engine.localCloud!.endpoint, 'us-east-1', db.cloud);

beforeAll(async () => {
  engine = await startModuleEngine({ localCloudPropagationMs: PROPAGATION_MS });
  db = await newDatabase(engine, 'notyet');
  c = await connect(db.url);
  iam = new IAMClient({ region: 'us-east-1', endpoint: engine.localCloud!.endpoint, credentials: db.cloud! });
  lambda = new LambdaClient({ region: 'us-east-1', endpoint: engine.localCloud!.endpoint, credentials: db.cloud! });
  await c.query(`select * from iasql_install('aws_lambda', 'aws_dynamo')`);
});
afterAll(async () => {
  await c?.end();
  iam?.destroy();
  lambda?.destroy();
  await stopTestEngine(engine);
});
afterEach(() => engine.localCloud!.faults.clear());

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
async function commit(statements: Array<[string, unknown[]?]>) {
  await rows('select * from iasql_begin()');
  for (const [sql, params] of statements) await c.query(sql, params);
  return rows(`select * from iasql_commit('test')`);
}
const newRole = (name: string): [string, unknown[]] => [`insert into iam_role (role_name, assume_role_policy_document, attached_policies_arns) values ($1, $2, array[$3])`, [name, TRUST, BASIC]];
const newFunction = (name: string, role: string): [string, unknown[]] => [
  `insert into lambda_function (name, handler, runtime, role_name, zip_b64) values ($1, 'index.handler', 'nodejs20.x', $2, lambda_zip($3::jsonb))`,
  [name, role, CODE],
];

test('the walk-through in one commit: a role and a function using it; Lambda cannot assume the new role at first, the commit waits it out', async () => {
  const plan = await commit([newRole('walk-role'), newFunction('walk-fn', 'walk-role')]);
  expect(plan.map((r) => `${r.action} ${r.table_name} ${r.description}`)).toEqual(['create iam_role walk-role', 'create lambda_function walk-fn|us-east-1']);
  const role = (await iam.send(new GetRoleCommand({ RoleName: 'walk-role' }))).Role!;
  const fn = (await lambda.send(new GetFunctionCommand({ FunctionName: 'walk-fn' }))).Configuration!;
  expect(fn.Role).toBe(role.Arn);
  expect(await rows(`select arn from lambda_function where name = 'walk-fn'`)).toEqual([{ arn: fn.FunctionArn }]);
  expect(await rows(`select arn from iam_role where role_name = 'walk-role'`)).toEqual([{ arn: role.Arn }]);
  // The retries were logged with why.
  expect(engine.logs()).toMatch(/cannot assume a role this new/);
});

test('a function for a role committed just before: Lambda is behind IAM, the create is retried', async () => {
  await commit([newRole('fresh-role')]);
  await commit([newFunction('fresh-fn', 'fresh-role')]);
  const role = (await iam.send(new GetRoleCommand({ RoleName: 'fresh-role' }))).Role!;
  expect((await lambda.send(new GetFunctionCommand({ FunctionName: 'fresh-fn' }))).Configuration!.Role).toBe(role.Arn);
});

test('GetRole right after CreateRole does not see the role yet: the create reads it again until it does, and the row gets its ARN', async () => {
  await commit([newRole('just-made')]);
  const role = await waitFor('the role to be found', () => iam.send(new GetRoleCommand({ RoleName: 'just-made' })).then((r) => r.Role, () => undefined));
  expect(await rows(`select arn, attached_policies_arns from iam_role where role_name = 'just-made'`)).toEqual([{ arn: role.Arn, attached_policies_arns: [BASIC] }]);
  expect(await rows('select * from iasql_preview_sync()')).toEqual([]);
});

test('a plain read of a role that is not there stays a plain read: the plan says create at once', async () => {
  await commit([newRole('short-lived')]);
  await waitFor('the role to reach IAM', async () => (await iam.send(new GetRoleCommand({ RoleName: 'short-lived' })).then(() => true, () => undefined)));
  engine.localCloud!.faults.inject({
    service: 'iam',
    operation: 'GetRole',
    error: { name: 'NoSuchEntity', message: 'The role with name short-lived cannot be found.', status: 404 },
    when: (r) => r.input.RoleName === 'short-lived',
  });
  await rows('select * from iasql_begin()');
  await c.query(`update iam_role set description = 'changed' where role_name = 'short-lived'`);
  const plan = await rows('select * from iasql_preview()');
  // The plan reads the role, finds nothing, and plans a create: no retry on a read nobody expects
  // to succeed (retried, it would fail after the rule's 30 s instead, as the fault stays).
  expect(plan.map((r) => `${r.action} ${r.description}`)).toEqual(['create short-lived']);
  await rows('select * from iasql_rollback()');
});

test('a DynamoDB table still UPDATING (changed outside iasql a moment ago): the commit retries UpdateTable until the table is ACTIVE again', async () => {
  await commit([[`insert into dynamo_table (table_name, throughput, primary_key) values ('busy', '{"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}', '{"id": "S"}')`]]);
  await ddb().send(new UpdateTableCommand({ TableName: 'busy', ProvisionedThroughput: { ReadCapacityUnits: 2, WriteCapacityUnits: 2 } }));
  expect((await ddb().send(new DescribeTableCommand({ TableName: 'busy' }))).Table!.TableStatus).toBe('UPDATING');
  const plan = await commit([[`update dynamo_table set throughput = '{"ReadCapacityUnits": 3, "WriteCapacityUnits": 3}' where table_name = 'busy'`]]);
  expect(plan.map((r) => `${r.action} ${r.description}`)).toEqual(['update busy|us-east-1']);
  const table = await waitFor('the table to be ACTIVE', async () => {
    const t = (await ddb().send(new DescribeTableCommand({ TableName: 'busy' }))).Table!;
    return t.TableStatus === 'ACTIVE' ? t : undefined;
  });
  expect(table.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 3, WriteCapacityUnits: 3 });
});

test("DynamoDB's limit on simultaneous table operations is waited out; its limit on the number of tables is not", async () => {
  const fault = (message: string, times?: number) =>
    engine.localCloud!.faults.inject({ service: 'dynamodb', operation: 'CreateTable', error: { name: 'LimitExceededException', message }, times });
  fault('Subscriber limit exceeded: Only 50 tables can be created, updated, or deleted simultaneously', 2);
  await commit([[`insert into dynamo_table (table_name, throughput, primary_key) values ('crowded', '"PAY_PER_REQUEST"', '{"id": "S"}')`]]);
  expect((await ddb().send(new DescribeTableCommand({ TableName: 'crowded' }))).Table!.TableName).toBe('crowded');

  fault('Subscriber limit exceeded: There is a limit of 2500 tables per subscriber');
  await rows('select * from iasql_begin()');
  await c.query(`insert into dynamo_table (table_name, throughput, primary_key) values ('one-too-many', '"PAY_PER_REQUEST"', '{"id": "S"}')`);
  const err = await sqlError(c, `select * from iasql_commit('test')`);
  expect(`${err.message}\n${err.detail}`).toMatch(/LimitExceededException[\s\S]*There is a limit of 2500 tables per subscriber/);
  await rows('select * from iasql_rollback()').catch(() => undefined);
});
