import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetRoleCommand } from '@aws-sdk/client-iam';
import { GetFunctionCommand } from '@aws-sdk/client-lambda';
import { Client } from 'pg';
import type { Fault } from '../src/localcloud/faults';
import { stopTestEngine, TestEngine } from './support/engine';
import { dynamoClient, iamClient, lambdaClient } from './support/localcloud';
import { newDatabase, NewDatabase, startModuleEngine } from './support/modules';
import { connect, sqlError } from './support/sql';

// A mapper operation is several cloud calls (CreateRole, then AttachRolePolicy; a function's
// configuration, then its code; a table's capacity, then its class). When the local cloud refuses
// a later call, what the earlier ones did is undone, or named as still in the cloud: never
// "nothing had been applied" while something was. Checked through the AWS SDK.
let engine: TestEngine;
let db: NewDatabase;
let c: Client;
const TRUST = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
const BASIC = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
const iam = () => iamClient(engine.localCloud!, db.cloud!);
const lambda = () => lambdaClient(engine.localCloud!, db.cloud!);
const dynamo = () => dynamoClient(engine.localCloud!, db.cloud!);

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'partial');
  c = await connect(db.url);
  await rows(`select * from iasql_install('aws_lambda', 'aws_dynamo')`);
  await change(`insert into iam_role (role_name, assume_role_policy_document, attached_policies_arns) values ('runner', '${TRUST}', array['${BASIC}'])`);
  await change(`insert into lambda_function (name, handler, runtime, role_name, zip_b64, memory_size)
                values ('worker', 'index.handler', 'nodejs20.x', 'runner', lambda_zip('{"index.js": "exports.handler = async () => 1"}'), 128)`);
  await change(`insert into dynamo_table (table_name, table_class, throughput, primary_key) values ('ledger', 'STANDARD', '{"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}', '{"id": "S"}')`);
});
afterEach(async () => {
  engine.localCloud!.faults.clear();
  await c.query('select * from iasql_rollback()').catch(() => undefined);
});
afterAll(async () => {
  await c?.end();
  await stopTestEngine(engine);
});

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
async function change(sql: string) {
  await rows('select * from iasql_begin()');
  await c.query(sql);
  return rows(`select * from iasql_commit('test')`);
}
async function failedCommit(sql: string) {
  await rows('select * from iasql_begin()');
  await c.query(sql);
  return sqlError(c, `select * from iasql_commit('will fail')`);
}
/** A fault for this database's account only. */
const inject = (fault: Fault) => engine.localCloud!.faults.inject({ ...fault, when: (r) => r.accountId === db.cloud!.accountId && (fault.when?.(r) ?? true) });
const notFound = (call: Promise<unknown>) => call.then(() => 'found', (e: Error) => e.name);

test('a role whose policy attachment is refused does not stay in the cloud, and the error says it was made and undone', async () => {
  inject({ service: 'iam', operation: 'AttachRolePolicy', error: { name: 'NoSuchEntity', message: 'Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable.', status: 404 } });
  const err = await failedCommit(`insert into iam_role (role_name, assume_role_policy_document, attached_policies_arns) values ('half-made', '${TRUST}', array['arn:aws:iam::aws:policy/Nope'])`);
  expect(err.message).toMatch(/^iasql_commit failed: 1 of 1 operation failed; 1 partly applied were reverted; the rows are back as they were\n/);
  expect(err.message).toContain('create iam_role half-made: NoSuchEntity');
  expect(err.message).toContain('(it had made part of the change: reverted)');
  expect(err.message).not.toContain('nothing had been applied');
  expect(await notFound(iam().send(new GetRoleCommand({ RoleName: 'half-made' })))).toBe('NoSuchEntityException');
  expect(await rows(`select role_name from iam_role order by role_name`)).toEqual([{ role_name: 'runner' }]);
});

test('a function whose creation fails after CreateFunction went through is deleted again', async () => {
  // CreateFunction goes through; the waiter's GetFunction sees the function Active; the mapper's
  // read of what it made (the second GetFunction) is refused.
  let created = false;
  let gets = 0;
  inject({ service: 'lambda', operation: 'CreateFunction', error: { name: 'x', message: 'x' }, when: () => ((created = true), false) });
  inject({ service: 'lambda', operation: 'GetFunction', error: { name: 'AccessDeniedException', message: 'injected: may not read it', status: 403 }, times: 1, when: () => created && ++gets === 2 });
  const err = await failedCommit(`insert into lambda_function (name, handler, runtime, role_name, zip_b64) values ('ghost', 'index.handler', 'nodejs20.x', 'runner', lambda_zip('{"index.js": "exports.handler = async () => 2"}'))`);
  expect(created).toBe(true);
  expect(err.message).toMatch(/^iasql_commit failed: 1 of 1 operation failed; 1 partly applied were reverted;/);
  expect(err.message).toContain('create lambda_function ghost|us-east-1:');
  expect(await notFound(lambda().send(new GetFunctionCommand({ FunctionName: 'ghost' })))).toBe('ResourceNotFoundException');
});

test('an update whose code is refused after its configuration went through sets the configuration back', async () => {
  const before = (await lambda().send(new GetFunctionCommand({ FunctionName: 'worker' }))).Configuration!;
  inject({ service: 'lambda', operation: 'UpdateFunctionCode', error: { name: 'CodeStorageExceededException', message: 'injected: code storage limit exceeded', status: 400 } });
  const err = await failedCommit(`update lambda_function set memory_size = 512, zip_b64 = lambda_zip('{"index.js": "exports.handler = async () => 3"}') where name = 'worker'`);
  expect(err.message).toMatch(/^iasql_commit failed: 1 of 1 operation failed; 1 partly applied were reverted;/);
  expect(err.message).toContain('update lambda_function worker|us-east-1: CodeStorageExceededException: injected: code storage limit exceeded (it had made part of the change: reverted)');
  const after = (await lambda().send(new GetFunctionCommand({ FunctionName: 'worker' }))).Configuration!;
  expect(after.MemorySize).toBe(128);
  expect(after.CodeSha256).toBe(before.CodeSha256);
  expect(await rows(`select memory_size from lambda_function where name = 'worker'`)).toEqual([{ memory_size: 128 }]);
});

test('new code that went through cannot be set back when another operation fails: the error says it is still in the cloud', async () => {
  const before = (await lambda().send(new GetFunctionCommand({ FunctionName: 'worker' }))).Configuration!;
  inject({ service: 'iam', operation: 'CreateRole', error: { name: 'EntityAlreadyExists', message: 'injected: Role with name one-too-many already exists.', status: 409 } });
  const err = await failedCommit(`update lambda_function set zip_b64 = lambda_zip('{"index.js": "exports.handler = async () => 4"}') where name = 'worker';
                                  insert into iam_role (role_name, assume_role_policy_document) values ('one-too-many', '${TRUST}')`);
  expect(err.message).toMatch(/^iasql_commit failed: 1 of 2 operations failed; the 1 applied were reverted except 1;/);
  expect(err.message).toContain('create iam_role one-too-many: EntityAlreadyExists');
  expect(err.message).toMatch(/still in the cloud \(the revert failed; fix by hand or iasql_sync\(\)\):\n  update lambda_function worker\|us-east-1: Irreversible: the new code of lambda_function worker in us-east-1 \(the rest was reverted; this part cannot be set back\)/);
  expect((await lambda().send(new GetFunctionCommand({ FunctionName: 'worker' }))).Configuration!.CodeSha256).not.toBe(before.CodeSha256);
});

test('a table update whose second call is refused sets the first one back', async () => {
  inject({ service: 'dynamodb', operation: 'UpdateTable', error: { name: 'ValidationException', message: 'injected: table class refused', status: 400 }, when: (r) => 'TableClass' in r.input });
  const err = await failedCommit(`update dynamo_table set throughput = '{"ReadCapacityUnits": 4, "WriteCapacityUnits": 4}', table_class = 'STANDARD_INFREQUENT_ACCESS' where table_name = 'ledger'`);
  expect(err.message).toMatch(/^iasql_commit failed: 1 of 1 operation failed; 1 partly applied were reverted;/);
  expect(err.message).toContain('update dynamo_table ledger|us-east-1: ValidationException: injected: table class refused (it had made part of the change: reverted)');
  const t = (await dynamo().send(new DescribeTableCommand({ TableName: 'ledger' }))).Table!;
  expect(t.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 1, WriteCapacityUnits: 1 });
});
