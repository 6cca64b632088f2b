import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteConflictException,
  DeleteRoleCommand,
  DetachRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  IAMClient,
  type IAMServiceException,
  InvalidInputException,
  LimitExceededException,
  ListAttachedRolePoliciesCommand,
  ListRolesCommand,
  ListUsersCommand,
  MalformedPolicyDocumentException,
  NoSuchEntityException,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
} from '@aws-sdk/client-iam';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { iamClient, newAccount, trustPolicy } from './support/localcloud';

const logger = createLogger('silent');
const BASIC = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

let cloud: LocalCloud;
let account: LocalAccount;
let iam: IAMClient;
beforeAll(async () => {
  cloud = await startLocalCloud({ port: 0, logger });
  account = await newAccount(cloud);
  iam = iamClient(cloud, account);
});
afterAll(() => cloud.stop());

async function failure(call: Promise<unknown>): Promise<IAMServiceException> {
  const outcome = await call.then(
    () => undefined,
    (err: IAMServiceException) => err,
  );
  if (!outcome) throw new Error('expected the call to fail');
  return outcome;
}

describe('IAM roles through @aws-sdk/client-iam (query protocol)', () => {
  test('CreateRole and GetRole: ARN, AROA id, date, the trust policy URL-encoded as IAM answers it, tags', async () => {
    const doc = trustPolicy();
    const { Role } = await iam.send(
      new CreateRoleCommand({ RoleName: 'app-role', AssumeRolePolicyDocument: doc, Description: 'for the app', Tags: [{ Key: 'team', Value: 'core' }] }),
    );
    expect(Role).toMatchObject({
      Path: '/',
      RoleName: 'app-role',
      Arn: `arn:aws:iam::${account.accountId}:role/app-role`,
      Description: 'for the app',
      MaxSessionDuration: 3600,
      AssumeRolePolicyDocument: encodeURIComponent(doc),
      Tags: [{ Key: 'team', Value: 'core' }],
    });
    expect(Role!.RoleId).toMatch(/^AROA[A-Z2-7]{17}$/);
    expect(Role!.CreateDate).toBeInstanceOf(Date);
    expect(Math.abs(Role!.CreateDate!.getTime() - Date.now())).toBeLessThan(60_000);
    const got = await iam.send(new GetRoleCommand({ RoleName: 'app-role' }));
    expect(got.Role).toEqual(Role);
    expect(JSON.parse(decodeURIComponent(got.Role!.AssumeRolePolicyDocument!))).toEqual(JSON.parse(doc));
  });

  test('IAM is global: a role made with one region is there for every region', async () => {
    await iam.send(new CreateRoleCommand({ RoleName: 'global-role', AssumeRolePolicyDocument: trustPolicy() }));
    const elsewhere = iamClient(cloud, account, 'ap-south-1');
    expect((await elsewhere.send(new GetRoleCommand({ RoleName: 'global-role' }))).Role?.Arn).toBe(`arn:aws:iam::${account.accountId}:role/global-role`);
  });

  test('roles with a path; ListRoles filters by PathPrefix, pages with MaxItems and Marker, and leaves out tags', async () => {
    for (const name of ['svc-a', 'svc-b', 'svc-c']) {
      await iam.send(new CreateRoleCommand({ RoleName: name, Path: '/services/', AssumeRolePolicyDocument: trustPolicy(), Tags: [{ Key: 'k', Value: 'v' }] }));
    }
    const first = await iam.send(new ListRolesCommand({ PathPrefix: '/services/', MaxItems: 2 }));
    expect(first.Roles!.map((r) => r.RoleName)).toEqual(['svc-a', 'svc-b']);
    expect(first.Roles![0].Arn).toBe(`arn:aws:iam::${account.accountId}:role/services/svc-a`);
    expect(first.Roles![0].Tags).toBeUndefined();
    expect(first.IsTruncated).toBe(true);
    const rest = await iam.send(new ListRolesCommand({ PathPrefix: '/services/', MaxItems: 2, Marker: first.Marker }));
    expect(rest.Roles!.map((r) => r.RoleName)).toEqual(['svc-c']);
    expect(rest.IsTruncated).toBe(false);
    expect((await iam.send(new ListRolesCommand({}))).Roles!.map((r) => r.RoleName)).toEqual(expect.arrayContaining(['app-role', 'svc-a']));
  });

  test('UpdateRole (description, session duration) and UpdateAssumeRolePolicy', async () => {
    await iam.send(new CreateRoleCommand({ RoleName: 'changing', AssumeRolePolicyDocument: trustPolicy() }));
    await iam.send(new UpdateRoleCommand({ RoleName: 'changing', Description: 'now described', MaxSessionDuration: 7200 }));
    const ec2 = trustPolicy('ec2.amazonaws.com');
    await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'changing', PolicyDocument: ec2 }));
    expect((await iam.send(new GetRoleCommand({ RoleName: 'changing' }))).Role).toMatchObject({
      Description: 'now described',
      MaxSessionDuration: 7200,
      AssumeRolePolicyDocument: encodeURIComponent(ec2),
    });
  });

  test('managed policies: attach (idempotent), list, detach; DeleteRole refuses while one is attached', async () => {
    await iam.send(new CreateRoleCommand({ RoleName: 'with-policies', AssumeRolePolicyDocument: trustPolicy() }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'with-policies', PolicyArn: BASIC }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'with-policies', PolicyArn: BASIC }));
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'with-policies', PolicyArn: 'arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess' }));
    const listed = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'with-policies' }));
    expect(listed.AttachedPolicies).toEqual([
      { PolicyName: 'AWSLambdaBasicExecutionRole', PolicyArn: BASIC },
      { PolicyName: 'AmazonDynamoDBReadOnlyAccess', PolicyArn: 'arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess' },
    ]);
    const conflict = await failure(iam.send(new DeleteRoleCommand({ RoleName: 'with-policies' })));
    expect(conflict).toBeInstanceOf(DeleteConflictException);
    expect(conflict.message).toBe('Cannot delete entity, must detach all policies first.');
    expect(conflict.$metadata.httpStatusCode).toBe(409);
    await iam.send(new DetachRolePolicyCommand({ RoleName: 'with-policies', PolicyArn: BASIC }));
    await iam.send(new DetachRolePolicyCommand({ RoleName: 'with-policies', PolicyArn: 'arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess' }));
    const notAttached = await failure(iam.send(new DetachRolePolicyCommand({ RoleName: 'with-policies', PolicyArn: BASIC })));
    expect(notAttached).toBeInstanceOf(NoSuchEntityException);
    expect(notAttached.message).toBe(`Policy ${BASIC} was not found.`);
    await iam.send(new DeleteRoleCommand({ RoleName: 'with-policies' }));
    expect(await failure(iam.send(new GetRoleCommand({ RoleName: 'with-policies' })))).toBeInstanceOf(NoSuchEntityException);
  });

  test('policy ARNs: malformed is InvalidInput; customer managed (not emulated) is NoSuchEntity; more than 10 is LimitExceeded', async () => {
    await iam.send(new CreateRoleCommand({ RoleName: 'policy-checks', AssumeRolePolicyDocument: trustPolicy() }));
    const bad = await failure(iam.send(new AttachRolePolicyCommand({ RoleName: 'policy-checks', PolicyArn: 'AWSLambdaBasicExecutionRole-x' })));
    expect(bad).toBeInstanceOf(InvalidInputException);
    expect(bad.message).toBe('ARN AWSLambdaBasicExecutionRole-x is not valid.');
    const custom = `arn:aws:iam::${account.accountId}:policy/mine`;
    const missing = await failure(iam.send(new AttachRolePolicyCommand({ RoleName: 'policy-checks', PolicyArn: custom })));
    expect(missing).toBeInstanceOf(NoSuchEntityException);
    expect(missing.message).toBe(`Policy ${custom} does not exist or is not attachable.`);
    for (let i = 0; i < 10; i++) await iam.send(new AttachRolePolicyCommand({ RoleName: 'policy-checks', PolicyArn: `arn:aws:iam::aws:policy/P${i}` }));
    const limit = await failure(iam.send(new AttachRolePolicyCommand({ RoleName: 'policy-checks', PolicyArn: 'arn:aws:iam::aws:policy/P10' })));
    expect(limit).toBeInstanceOf(LimitExceededException);
  });

  test.each<[string, () => Promise<unknown>, new (...a: never[]) => Error, string]>([
    ['a duplicate name (case-insensitive)', () => iam.send(new CreateRoleCommand({ RoleName: 'APP-ROLE', AssumeRolePolicyDocument: trustPolicy() })), EntityAlreadyExistsException, 'Role with name APP-ROLE already exists.'],
    ['a missing role', () => iam.send(new GetRoleCommand({ RoleName: 'ghost' })), NoSuchEntityException, 'The role with name ghost cannot be found.'],
    ['deleting a missing role', () => iam.send(new DeleteRoleCommand({ RoleName: 'ghost' })), NoSuchEntityException, 'The role with name ghost cannot be found.'],
    ['attaching to a missing role', () => iam.send(new AttachRolePolicyCommand({ RoleName: 'ghost', PolicyArn: BASIC })), NoSuchEntityException, 'The role with name ghost cannot be found.'],
    ['a trust policy that is not JSON', () => iam.send(new CreateRoleCommand({ RoleName: 'bad-json', AssumeRolePolicyDocument: '{nope' })), MalformedPolicyDocumentException, 'This policy contains invalid Json'],
    [
      'a trust policy with a Resource',
      () =>
        iam.send(
          new CreateRoleCommand({
            RoleName: 'bad-trust',
            AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole', Resource: '*' }] }),
          }),
        ),
      MalformedPolicyDocumentException,
      'Has prohibited field Resource',
    ],
    [
      'a trust policy with a non-STS action',
      () =>
        iam.send(
          new CreateRoleCommand({
            RoleName: 'bad-action',
            AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 's3:GetObject' }] }),
          }),
        ),
      MalformedPolicyDocumentException,
      'AssumeRole policy may only specify STS AssumeRole actions.',
    ],
    [
      'a trust policy with an STS action that is not an assume-role action',
      () =>
        iam.send(
          new CreateRoleCommand({
            RoleName: 'bad-sts-action',
            AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: ['sts:AssumeRole', 'sts:GetCallerIdentity'] }] }),
          }),
        ),
      MalformedPolicyDocumentException,
      'AssumeRole policy may only specify STS AssumeRole actions.',
    ],
    ['an update to a malformed trust policy', () => iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: 'app-role', PolicyDocument: '[]' })), MalformedPolicyDocumentException, 'This policy contains invalid Json'],
  ])('%s is refused as IAM refuses it', async (_what, call, type, message) => {
    const err = await failure(call());
    expect(err).toBeInstanceOf(type);
    expect(err.message).toBe(message);
  });

  test('a trust policy may name every assume-role action, and wildcards that match one', async () => {
    const actions = ['sts:AssumeRole', 'sts:AssumeRoleWithSAML', 'sts:AssumeRoleWithWebIdentity', 'sts:TagSession', 'sts:SetSourceIdentity', 'sts:SetContext', 'sts:Assume*', 'STS:*', '*'];
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: actions }] });
    await iam.send(new CreateRoleCommand({ RoleName: 'every-action', AssumeRolePolicyDocument: doc }));
    expect(JSON.parse(decodeURIComponent((await iam.send(new GetRoleCommand({ RoleName: 'every-action' }))).Role!.AssumeRolePolicyDocument!)).Statement[0].Action).toEqual(actions);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['a name with a space', { RoleName: 'bad name' }, /Value 'bad name' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: \[\\w\+=,\.@-\]\+/],
    ['a 65-character name', { RoleName: 'r'.repeat(65) }, /at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64/],
    ['a path without slashes', { Path: 'services' }, /at 'path' failed to satisfy constraint/],
    ['a session of 30 minutes', { MaxSessionDuration: 1800 }, /at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600/],
    ['a description over 1000 characters', { Description: 'd'.repeat(1001) }, /at 'description' failed to satisfy constraint/],
  ])('CreateRole with %s: ValidationError', async (_what, change, message) => {
    const err = await failure(iam.send(new CreateRoleCommand({ RoleName: 'valid', AssumeRolePolicyDocument: trustPolicy(), ...change })));
    expect(err.name).toBe('ValidationError');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toMatch(message);
  });

  test('an action it does not emulate: InvalidAction naming what it does', async () => {
    const err = await failure(iam.send(new ListUsersCommand({})));
    expect(err.name).toBe('InvalidAction');
    expect(err.message).toContain('Could not find operation ListUsers');
    expect(err.message).toContain('CreateRole');
  });
});
