import { GetRoleCommand, IAMClient, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { Client } from 'pg';
import { ASSUME_ROLE_ACTIONS } from '../src/localcloud/iam-policy';
import { stopTestEngine, TestEngine } from './support/engine';
import { install, newDatabase, NewDatabase, startModuleEngine, upgrade } from './support/modules';
import { connect, sqlError } from './support/sql';
import { waitFor } from './support/wait';

// aws_iam's write-time checks: role names follow IAM's uniqueness rule (regardless of case), trust
// policies name only assume-role actions. SQL as the tenant; the cloud checked through the AWS SDK.
let engine: TestEngine;
let db: NewDatabase;
let c: Client;
let iam: IAMClient;
let lambda: LambdaClient;

const trust = (action: unknown) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: action }] });
const BASIC = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

beforeAll(async () => {
  engine = await startModuleEngine();
  db = await newDatabase(engine, 'iam');
  iam = new IAMClient({ region: 'us-east-1', endpoint: engine.localCloud!.endpoint, credentials: db.cloud! });
  lambda = new LambdaClient({ region: 'us-east-1', endpoint: engine.localCloud!.endpoint, credentials: db.cloud! });
  c = await connect(db.url);
  await c.query(`select * from iasql_install('aws_lambda')`);
});
afterAll(async () => {
  await c?.end();
  iam?.destroy();
  lambda?.destroy();
  await stopTestEngine(engine);
});

const rows = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows;

describe('role names are unique regardless of case, as in IAM', () => {
  test('a twin of a role a function uses is refused when written; the role, its policy and the function are untouched', async () => {
    await rows('select * from iasql_begin()');
    await c.query(`insert into iam_role (role_name, assume_role_policy_document, attached_policies_arns) values ('lambda-basic', $1, array[$2])`, [trust('sts:AssumeRole'), BASIC]);
    await c.query(`insert into lambda_function (name, handler, runtime, role_name, zip_b64) values ('uses-role', 'index.handler', 'nodejs22.x', 'lambda-basic', lambda_zip('{"index.js": "exports.handler = async () => 1"}'))`);
    await rows(`select * from iasql_commit('a role and its function')`);
    const id = (await rows(`select id from iam_role where role_name = 'lambda-basic'`))[0].id;

    expect(await sqlError(c, `insert into iam_role (role_name, assume_role_policy_document) values ('LAMBDA-BASIC', $1)`, [trust('sts:AssumeRole')])).toEqual({
      code: '23505',
      message: `iam_role.role_name 'LAMBDA-BASIC': the role 'lambda-basic' (iam_role id ${id}) already has this name`,
      detail: 'IAM role names are unique within an account regardless of case: both rows would be the same role',
      hint: `change that row (UPDATE iam_role SET ... WHERE role_name = 'lambda-basic'), or choose a name that differs from it in more than case`,
    });
    // Renaming another row into a twin is refused the same way.
    await rows('select * from iasql_begin()');
    await c.query(`insert into iam_role (role_name, assume_role_policy_document) values ('other-role', $1)`, [trust('sts:AssumeRole')]);
    expect((await sqlError(c, `update iam_role set role_name = 'Lambda-Basic' where role_name = 'other-role'`)).message).toBe(
      `iam_role.role_name 'Lambda-Basic': the role 'lambda-basic' (iam_role id ${id}) already has this name`,
    );
    await rows(`select * from iasql_commit('another role')`);

    expect(await rows(`select role_name from iam_role order by role_name`)).toEqual([{ role_name: 'lambda-basic' }, { role_name: 'other-role' }]);
    expect((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'lambda-basic' }))).AttachedPolicies!.map((p) => p.PolicyArn)).toEqual([BASIC]);
    const role = (await iam.send(new GetRoleCommand({ RoleName: 'lambda-basic' }))).Role!;
    expect((await lambda.send(new GetFunctionCommand({ FunctionName: 'uses-role' }))).Configuration!.Role).toBe(role.Arn);
  });

  test('the index holds the rule without the trigger too (two sessions writing twins at once)', async () => {
    // What the trigger cannot see (another transaction's uncommitted row), the unique index on lower(role_name) refuses.
    const other = await connect(db.url);
    try {
      await c.query('begin');
      await c.query(`insert into iam_role (role_name, assume_role_policy_document) values ('racer', $1)`, [trust('sts:AssumeRole')]);
      await other.query('begin');
      const pid = (await other.query('select pg_backend_pid() as pid')).rows[0].pid;
      const second = other.query(`insert into iam_role (role_name, assume_role_policy_document) values ('RACER', $1)`, [trust('sts:AssumeRole')]).then(
        () => undefined,
        (err: { code: string; constraint: string }) => ({ code: err.code, constraint: err.constraint }),
      );
      // The second insert waits on the first transaction's index entry; then the first commits.
      await waitFor('the second insert to wait on the first', async () =>
        (await c.query(`select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`, [pid])).rowCount ? true : undefined,
      );
      await c.query('commit');
      expect(await second).toEqual({ code: '23505', constraint: 'iam_role_role_name_lower_key' });
      await other.query('rollback');
    } finally {
      await other.end();
    }
    await rows(`delete from iam_role where role_name = 'racer'`);
  });
});

describe('trust policies name only assume-role actions, as IAM requires', () => {
  test.each([
    ['s3:GetObject', '"s3:GetObject"'],
    [['sts:AssumeRole', 'sts:GetCallerIdentity'], '"sts:GetCallerIdentity"'],
    ['iam:*', '"iam:*"'],
  ])('Action %j is refused when written', async (action, shown) => {
    expect(await sqlError(c, `insert into iam_role (role_name, assume_role_policy_document) values ('bad-trust', $1)`, [trust(action)])).toEqual({
      code: '23514',
      message: `iam_role.assume_role_policy_document: ${shown} is not an action a trust policy may name`,
      detail: 'IAM refuses it: AssumeRole policy may only specify STS AssumeRole actions.',
      hint: `use ${ASSUME_ROLE_ACTIONS.join(', ')} (usually "sts:AssumeRole"); what the role may do goes in attached_policies_arns`,
    });
  });

  test('every assume-role action, and wildcards matching one, are accepted', async () => {
    await c.query('begin');
    await c.query(`insert into iam_role (role_name, assume_role_policy_document) values ('every-action', $1)`, [trust([...ASSUME_ROLE_ACTIONS, 'sts:Assume*', 'STS:*', '*'])]);
    await c.query('rollback');
  });

  test('a statement with a Resource, or without a Principal, is refused when written', async () => {
    const doc = (statement: object) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', ...statement }] });
    expect((await sqlError(c, `insert into iam_role (role_name, assume_role_policy_document) values ('r1', $1)`, [doc({ Principal: '*', Resource: '*' })])).message).toBe(
      'iam_role.assume_role_policy_document: a trust policy statement has no Resource (the role is the resource)',
    );
    expect((await sqlError(c, `insert into iam_role (role_name, assume_role_policy_document) values ('r2', $1)`, [doc({})])).message).toMatch(
      /^iam_role\.assume_role_policy_document: the statement .* needs a Principal \(who may assume the role\) and an Action$/,
    );
  });

  test('a trust policy over 2048 characters (white space not counted) is refused when written; exactly 2048 goes through to IAM', async () => {
    // One statement naming many services; the last name is padded to reach the length wanted.
    const sized = (chars: number) => {
      const services = Array.from({ length: 60 }, (_, i) => `svc${i}.amazonaws.com`);
      const doc = (last: string) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: [...services, last] }, Action: 'sts:AssumeRole' }] });
      const base = JSON.stringify(doc('')).length;
      return JSON.stringify(doc('p'.repeat(chars - base)));
    };
    const over = sized(2049);
    expect(await sqlError(c, `insert into iam_role (role_name, assume_role_policy_document) values ('long-trust', $1)`, [over])).toEqual({
      code: '23514',
      message: 'iam_role.assume_role_policy_document is 2049 characters long (white space not counted); IAM allows 2048',
      detail: undefined,
      hint: 'name fewer principals or conditions per statement, e.g. one statement with a list of principals',
    });
    await c.query(`select * from iasql_begin()`);
    await c.query(`insert into iam_role (role_name, assume_role_policy_document) values ('long-trust', $1)`, [sized(2048)]);
    expect((await rows(`select action, description from iasql_commit()`))).toEqual([{ action: 'create', description: 'long-trust' }]);
    expect((await iam.send(new GetRoleCommand({ RoleName: 'long-trust' }))).Role?.RoleName).toBe('long-trust');
    await c.query(`select * from iasql_begin()`);
    await c.query(`delete from iam_role where role_name = 'long-trust'`);
    await c.query(`select * from iasql_commit()`);
  });

  test('the local cloud allows the same actions (src/localcloud/iam-policy.ts)', async () => {
    expect((await rows('select iam_assume_role_actions() as a'))[0].a).toEqual(ASSUME_ROLE_ACTIONS);
  });
});

describe('databases on aws_iam 0.1.0 get the checks by upgrading', () => {
  test('an upgrade adds the case rule; a database holding twins is told which, and keeps 0.1.0', async () => {
    const old = await newDatabase(engine, 'iam_old');
    expect((await install(engine, old.name, ['aws_iam@0.1.0'])).status).toBe(200);
    const oc = await connect(old.url);
    try {
      // 0.1.0 accepted these twins (the bug).
      await oc.query(`insert into iam_role (role_name, assume_role_policy_document) values ('twin', $1), ('TWIN', $1)`, [trust('sts:AssumeRole')]);
      const refused = await upgrade(engine, old.name);
      expect(refused.status).toBe(500);
      expect(refused.body.error.message).toContain(`iam_role holds role names that differ only in case: 'TWIN' and 'twin'`);
      expect((await oc.query(`select module_version from iasql_modules_installed() where module_name = 'aws_iam'`)).rows).toEqual([{ module_version: '0.1.0' }]);

      await oc.query(`delete from iam_role where role_name = 'TWIN'`);
      expect((await upgrade(engine, old.name)).status).toBe(200);
      expect((await oc.query(`select module_version from iasql_modules_installed() where module_name = 'aws_iam'`)).rows).toEqual([{ module_version: '0.2.0' }]);
      expect((await sqlError(oc, `insert into iam_role (role_name, assume_role_policy_document) values ('Twin', $1)`, [trust('sts:AssumeRole')])).code).toBe('23505');
    } finally {
      await oc.end();
    }
  });
});
