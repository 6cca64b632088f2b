import { GetRoleCommand, IAMClient, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { GetFunctionCommand, LambdaClient, ResourceNotFoundException, Runtime } from '@aws-sdk/client-lambda';
import { unzipSync } from 'fflate';
import { Client } from 'pg';
import { BLOCKED_RUNTIMES, RESERVED_VARIABLES, SUPPORTED_RUNTIMES } from '../src/localcloud/lambda-validate';
import { stopTestEngine, TestEngine } from './support/engine';
import { install, newDatabase, NewDatabase, startModuleEngine, uninstall } from './support/modules';
import { connect, sqlError } from './support/sql';

// aws_iam and aws_lambda end to end, on the local cloud's Lambda/IAM emulator, checked through the
// real AWS SDK: the RFC's examples as psql one-liners, no AWS account.
let engine: TestEngine;
let db: NewDatabase;
let c: Client;
// The database's own local-cloud account (made with the database).
const creds = () => db.cloud!;
const lambdas = new Map<string, LambdaClient>();
const sdk = (region = 'us-east-1') => {
  if (!lambdas.has(region)) lambdas.set(region, new LambdaClient({ region, endpoint: engine.localCloud!.endpoint, credentials: creds() }));
  return lambdas.get(region)!;
};
let iamClient: IAMClient;
const fn = async (name: string, region = 'us-east-1') => sdk(region).send(new GetFunctionCommand({ FunctionName: name }));

const TRUST = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
const BASIC = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
const ADDER = `exports.handler = async (e) => ({ total: e.a + e.b, stage: process.env.STAGE || null });`;

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'lambda');
  iamClient = new IAMClient({ region: 'us-east-1', endpoint: engine.localCloud!.endpoint, credentials: creds() });
  c = await connect(db.url);
});
afterAll(async () => {
  await c?.end();
  lambdas.forEach((x) => x.destroy());
  iamClient?.destroy();
  await stopTestEngine(engine);
});

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;
async function change(sql: string, params: unknown[] = []) {
  await rows('select * from iasql_begin()');
  await c.query(sql, params);
  return rows(`select * from iasql_commit('test')`);
}
const invoke = async (name: string, payload: unknown, region?: string) =>
  (await rows(`select * from invoke_lambda_function($1, $2::json${region ? ', $3' : ''})`, region ? [name, JSON.stringify(payload), region] : [name, JSON.stringify(payload)]))[0];

describe('from SQL sources to a function you can call', () => {
  test('install, a role and a function from SQL sources, commit; the cloud has both', async () => {
    expect((await rows(`select module_name from iasql_install('aws_lambda')`)).map((r) => r.module_name)).toEqual(['aws_account', 'aws_account', 'aws_iam', 'aws_lambda']);
    await rows('select * from iasql_begin()');
    await c.query(`insert into iam_role (role_name, assume_role_policy_document, attached_policies_arns) values ('lambda-basic', $1, array[$2])`, [TRUST, BASIC]);
    await c.query(
      `insert into lambda_function (name, handler, runtime, role_name, zip_b64, environment)
       values ('adder', 'index.handler', 'nodejs20.x', 'lambda-basic', lambda_zip($1::jsonb), '{"STAGE": "dev"}')`,
      [JSON.stringify({ 'index.js': ADDER })],
    );
    const plan = await rows(`select * from iasql_commit('a role and a function')`);
    expect(plan.map((r) => `${r.action} ${r.table_name} ${r.description}`)).toEqual(['create iam_role lambda-basic', 'create lambda_function adder|us-east-1']);
    const role = (await iamClient.send(new GetRoleCommand({ RoleName: 'lambda-basic' }))).Role!;
    expect((await iamClient.send(new ListAttachedRolePoliciesCommand({ RoleName: 'lambda-basic' }))).AttachedPolicies!.map((p) => p.PolicyArn)).toEqual([BASIC]);
    const f = await fn('adder');
    expect(f.Configuration).toMatchObject({ Handler: 'index.handler', Runtime: 'nodejs20.x', Role: role.Arn, Environment: { Variables: { STAGE: 'dev' } } });
    // Cloud fields back in the rows; the code is not kept in the row.
    expect(await rows('select arn, zip_b64 from lambda_function')).toEqual([{ arn: f.Configuration!.FunctionArn, zip_b64: null }]);
    expect(await rows('select arn from iam_role')).toEqual([{ arn: role.Arn }]);
  });

  test('invoke returns the payload, usable in a query; an invoke is not a commit', async () => {
    const before = (await rows('select count(*)::int as n from iasql_change_set'))[0].n;
    expect((await rows(`SELECT payload::json->>'total' AS total FROM invoke_lambda_function('adder', '{"a": 2, "b": 40}')`))[0]).toEqual({ total: '42' });
    expect(await invoke('adder', { a: 1, b: 1 })).toEqual({ function_name: 'adder', version: '$LATEST', status: 200, payload: '{"total":2,"stage":"dev"}', error: null });
    expect((await rows('select count(*)::int as n from iasql_change_set'))[0].n).toBe(before);
  });

  test('new code, environment and tags take effect; a user edit of arn is restored', async () => {
    const zip = (await rows(`select lambda_zip('{"index.js": "exports.handler = async (e) => ({ total: e.a * e.b, stage: process.env.STAGE })"}') as z`))[0].z;
    expect(await change(`update lambda_function set zip_b64 = $1 where name = 'adder'`, [zip])).toEqual([{ action: 'update', table_name: 'lambda_function', id: expect.any(Number), description: 'adder|us-east-1' }]);
    expect(JSON.parse((await invoke('adder', { a: 6, b: 7 })).payload).total).toBe(42);
    await change(`update lambda_function set environment = '{"STAGE": "prod"}', tags = '{"team": "data"}' where name = 'adder'`);
    expect(JSON.parse((await invoke('adder', { a: 1, b: 1 })).payload).stage).toBe('prod');
    expect((await fn('adder')).Tags).toEqual({ team: 'data' });
    const arn = (await rows(`select arn from lambda_function where name = 'adder'`))[0].arn;
    expect(await change(`update lambda_function set arn = 'arn:aws:lambda:us-east-1:000000000000:function:forged' where name = 'adder'`)).toEqual([]);
    expect((await rows(`select arn from lambda_function where name = 'adder'`))[0].arn).toBe(arn);
  });

  test('a throwing handler gives a row with error set; a slow one the timeout error; an unknown function is a SQL error', async () => {
    await change(
      `insert into lambda_function (name, handler, runtime, role_name, timeout, zip_b64) values
         ('thrower', 'index.handler', 'nodejs20.x', 'lambda-basic', 3, lambda_zip('{"index.js": "exports.handler = async () => { const e = new Error(\\"no way\\"); e.name = \\"NopeError\\"; throw e; }"}')),
         ('sleeper', 'index.handler', 'nodejs20.x', 'lambda-basic', 1, lambda_zip('{"index.js": "exports.handler = () => new Promise((r) => setTimeout(r, 5000))"}'))`,
    );
    const thrown = await invoke('thrower', {});
    expect(thrown).toMatchObject({ status: 200, error: 'Unhandled: NopeError: no way' });
    expect(JSON.parse(thrown.payload)).toMatchObject({ errorType: 'NopeError', errorMessage: 'no way' });
    const slow = await invoke('sleeper', {});
    expect(slow.error).toMatch(/^Unhandled: Sandbox\.Timedout: .*Task timed out after 1\.00 seconds/);
    expect(await sqlError(c, `select * from invoke_lambda_function('ghost')`)).toMatchObject({
      code: 'IQ001',
      message: "invoke_lambda_function: there is no function 'ghost' in us-east-1",
      detail: 'cloud error code: ResourceNotFoundException',
    });
  });
});

describe('regions, import, deletion order', () => {
  test('a function in a non-default region, then moved to another', async () => {
    await change(`insert into lambda_function (name, handler, runtime, role_name, region, zip_b64) values ('roamer', 'index.handler', 'nodejs20.x', 'lambda-basic', 'eu-west-1', lambda_zip('{"index.js": "exports.handler = async () => process.env.AWS_REGION"}'))`);
    expect(JSON.parse((await invoke('roamer', {}, 'eu-west-1')).payload)).toBe('eu-west-1');
    await expect(fn('roamer')).rejects.toBeInstanceOf(ResourceNotFoundException);
    const zip = (await rows(`select lambda_zip('{"index.js": "exports.handler = async () => process.env.AWS_REGION"}') as z`))[0].z;
    expect((await change(`update lambda_function set region = 'us-west-2', zip_b64 = $1 where name = 'roamer'`, [zip])).map((r) => `${r.action} ${r.description}`)).toEqual([
      'delete roamer|eu-west-1',
      'create roamer|us-west-2',
    ]);
    await expect(fn('roamer', 'eu-west-1')).rejects.toBeInstanceOf(ResourceNotFoundException);
    expect(JSON.parse((await invoke('roamer', {}, 'us-west-2')).payload)).toBe('us-west-2');
  });

  test('uninstall then install imports the functions and the role back', async () => {
    const shape = `select name, region, handler, runtime, memory_size, timeout, environment, tags, role_name, arn from lambda_function order by name, region`;
    const before = await rows(shape);
    expect((await uninstall(engine, db.name, ['aws_lambda'])).status).toBe(200);
    expect((await install(engine, db.name, ['aws_lambda'])).status).toBe(200);
    expect(await rows(shape)).toEqual(before);
  });

  test('a role and its function deleted in one change set go in the right order', async () => {
    await change(`insert into iam_role (role_name, assume_role_policy_document) values ('short-lived', '${TRUST}');
                  insert into lambda_function (name, handler, runtime, role_name, zip_b64) values ('ephemeral', 'index.handler', 'nodejs20.x', 'short-lived', lambda_zip('{"index.js": "exports.handler = async () => 1"}'))`);
    expect((await change(`delete from lambda_function where name = 'ephemeral'; delete from iam_role where role_name = 'short-lived'`)).map((r) => `${r.action} ${r.table_name}`)).toEqual([
      'delete iam_role',
      'delete lambda_function',
    ]);
    await expect(fn('ephemeral')).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(iamClient.send(new GetRoleCommand({ RoleName: 'short-lived' }))).rejects.toMatchObject({ name: 'NoSuchEntityException' });
  });

  test('delete removes a function', async () => {
    expect(await change(`delete from lambda_function where name = 'thrower'`)).toEqual([{ action: 'delete', table_name: 'lambda_function', id: null, description: 'thrower|us-east-1' }]);
    await expect(fn('thrower')).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('lambda_zip', () => {
  test('builds the zip from a JSON object or from rows; the same sources give the same zip', async () => {
    const one = (await rows(`select lambda_zip('{"index.js": "a", "lib/util.js": "b"}') as z`))[0].z;
    expect(Object.fromEntries(Object.entries(unzipSync(Buffer.from(one, 'base64'))).map(([k, v]) => [k, Buffer.from(v).toString()]))).toEqual({ 'index.js': 'a', 'lib/util.js': 'b' });
    const agg = (await rows(`select lambda_zip(path, content) as z from (values ('index.js', 'a'), ('lib/util.js', 'b')) s(path, content)`))[0].z;
    expect(agg).toBe(one);
  });

  test.each([
    [`'{"/etc/passwd": "x"}'`, "lambda_zip: path '/etc/passwd' is absolute: paths are relative to the function's root"],
    [`'{"../up.js": "x"}'`, "lambda_zip: path '../up.js' goes up with '..': paths must stay inside the function's root"],
    [`'{"a/../../b.js": "x"}'`, "lambda_zip: path 'a/../../b.js' goes up with '..': paths must stay inside the function's root"],
    [`'{"index.js": 42}'`, "lambda_zip: the content of 'index.js' must be a string, not number"],
    [`'{}'`, 'lambda_zip: no files given'],
    [`'["index.js"]'`, 'lambda_zip: files must be a JSON object of path -> content'],
  ])('refuses %s', async (arg, message) => {
    expect(await sqlError(c, `select lambda_zip(${arg})`)).toMatchObject({ code: 'IQ002', message });
  });

  test('bad function rows are refused when written', async () => {
    expect((await sqlError(c, `insert into lambda_function (name, handler, runtime, role_name, zip_b64) values ('x', 'index.handler', 'cobol85', 'lambda-basic', 'UEs=')`)).message).toBe(
      "lambda_function.runtime 'cobol85' is not a Lambda runtime",
    );
    expect((await sqlError(c, `insert into lambda_function (name, handler, runtime, role_name) values ('nocode', 'index.handler', 'nodejs20.x', 'lambda-basic')`)).message).toBe(
      "lambda_function 'nocode' has no code: set zip_b64",
    );
    expect((await sqlError(c, `insert into lambda_function (name, runtime, role_name, zip_b64) values ('nohandler', 'nodejs20.x', 'lambda-basic', 'UEs=')`)).message).toBe(
      "lambda_function 'nohandler' needs a handler and a runtime (package_type Zip)",
    );
    expect((await sqlError(c, `insert into iam_role (role_name, assume_role_policy_document) values ('r', '{"no": "statement"}')`)).message).toBe(
      'iam_role.assume_role_policy_document must be a policy document (a JSON object with a Statement)',
    );
  });
});

describe('rows Lambda would refuse are refused when written', () => {
  const INSERT = `insert into lambda_function (name, handler, runtime, role_name, zip_b64, environment) values ('checked', 'index.handler', $1, 'lambda-basic', 'UEs=', $2)`;
  const args = (runtime: string, environment: object | null = null) => [runtime, environment && JSON.stringify(environment)];
  const supported = () => SUPPORTED_RUNTIMES.join(', ');

  test('a deprecated runtime, on insert and on update, with the runtime to use instead', async () => {
    expect(await sqlError(c, INSERT, args('nodejs12.x'))).toEqual({
      code: '23514',
      message: "lambda_function.runtime 'nodejs12.x' is deprecated: Lambda no longer creates or updates functions with it",
      detail: undefined,
      hint: `use nodejs22.x (runtime = 'nodejs22.x'), or another of: ${supported()}`,
    });
    expect((await sqlError(c, `update lambda_function set runtime = 'python3.8' where name = 'adder'`)).hint).toBe(`use python3.13 (runtime = 'python3.13'), or another of: ${supported()}`);
    expect((await sqlError(c, `insert into lambda_function (name, handler, runtime, role_name, zip_b64) values ('x', 'index.handler', 'cobol85', 'lambda-basic', 'UEs=')`)).hint).toBe(
      `use one of: ${supported()}`,
    );
  });

  test('a reserved environment variable, naming it; AWS_LAMBDA_EXEC_WRAPPER and other names are settable', async () => {
    expect(await sqlError(c, INSERT, args('nodejs22.x', { STAGE: 'dev', AWS_REGION: 'eu-west-1', AWS_LAMBDA_FUNCTION_NAME: 'x' }))).toEqual({
      code: '23514',
      message: 'lambda_function.environment sets AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, which Lambda reserves',
      detail: `Lambda sets these itself in every function: ${RESERVED_VARIABLES.join(', ')}`,
      hint: 'remove them from environment (the handler reads them, e.g. process.env.AWS_REGION); to pass your own value, use another name',
    });
    expect((await sqlError(c, `update lambda_function set environment = '{"A": "1"}' where name = 'adder'`)).message).toBe(
      "lambda_function.environment: 'A' is not a variable name Lambda accepts",
    );
    await c.query('begin');
    await c.query(INSERT, args('nodejs22.x', { AWS_LAMBDA_EXEC_WRAPPER: '/opt/wrap', NODE_OPTIONS: '--enable-source-maps' }));
    await c.query('rollback');
  });

  test('environment over 4 KB (its compact JSON, in bytes) is refused when written; exactly 4 KB goes through to the cloud', async () => {
    // {"BIG":"<v>"} is 10 bytes more than <v>.
    const atLimit = { BIG: 'x'.repeat(4086) };
    const overByOneByte = { BIG: 'é' + 'x'.repeat(4085) }; // 4086 characters, 4087 bytes
    expect(await sqlError(c, INSERT, args('nodejs22.x', overByOneByte))).toEqual({
      code: '23514',
      message: 'lambda_function.environment is 4097 bytes as JSON; Lambda allows 4096 (4 KB) for all variables together',
      detail: undefined,
      hint: 'keep large or secret values elsewhere (a DynamoDB table, SSM Parameter Store) and put their name in a variable',
    });
    await rows('select * from iasql_begin()');
    await c.query(
      `insert into lambda_function (name, handler, runtime, role_name, zip_b64, environment)
       values ('checked', 'index.handler', 'nodejs22.x', 'lambda-basic', lambda_zip('{"index.js": "exports.handler = async () => 1"}'), $1)`,
      [JSON.stringify(atLimit)],
    );
    expect((await rows(`select * from iasql_commit('4 KB of environment')`)).map((r) => r.description)).toEqual(['checked|us-east-1']);
    expect((await fn('checked')).Configuration!.Environment!.Variables).toEqual(atLimit);
    await change(`delete from lambda_function where name = 'checked'`);
  });

  test('one list of runtimes and of reserved variables: the module and the local cloud agree, and the SDK knows no other runtime', async () => {
    const runtimes = await rows('select runtime, status, successor from lambda_runtimes()');
    expect(runtimes.filter((r) => r.status === 'supported').map((r) => r.runtime)).toEqual(SUPPORTED_RUNTIMES);
    expect(Object.fromEntries(runtimes.filter((r) => r.status === 'blocked').map((r) => [r.runtime, r.successor]))).toEqual(BLOCKED_RUNTIMES);
    expect(runtimes.map((r) => r.runtime).sort()).toEqual(Object.values(Runtime).sort());
    expect(Object.values(BLOCKED_RUNTIMES).every((successor) => SUPPORTED_RUNTIMES.includes(successor))).toBe(true);
    expect((await rows('select lambda_reserved_environment_keys() as k'))[0].k).toEqual(RESERVED_VARIABLES);
  });
});

