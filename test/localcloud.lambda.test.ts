import { createHash } from 'node:crypto';
import { CreateRoleCommand, ListRolesCommand } from '@aws-sdk/client-iam';
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvalidParameterValueException,
  InvokeCommand,
  LambdaClient,
  LambdaServiceException,
  ListAliasesCommand,
  ListFunctionsCommand,
  ListTagsCommand,
  PreconditionFailedException,
  ResourceConflictException,
  ResourceNotFoundException,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionActiveV2,
  waitUntilFunctionExists,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { awsCli, iamClient, lambdaClient, lambdaRole, newAccount, trustPolicy, zip, zipOfZeros } from './support/localcloud';

const logger = createLogger('silent');
const HELLO = zip({ 'index.js': 'exports.handler = async (event) => ({ hello: event.name ?? "world" });' });
const waiter = (client: LambdaClient) => ({ client, maxWaitTime: 10, minDelay: 1, maxDelay: 1 });

let cloud: LocalCloud;
let account: LocalAccount;
let lambda: LambdaClient;
let role: string;
beforeAll(async () => {
  cloud = await startLocalCloud({ port: 0, logger });
  account = await newAccount(cloud);
  lambda = lambdaClient(cloud, account);
  role = await lambdaRole(cloud, account);
});
afterAll(() => cloud.stop());

const fn = (name: string, extra: Partial<CreateFunctionCommandInput> = {}): CreateFunctionCommandInput => ({
  FunctionName: name,
  Runtime: 'nodejs20.x',
  Role: role,
  Handler: 'index.handler',
  Code: { ZipFile: HELLO },
  ...extra,
});
/** The error a call fails with (the test fails if it succeeds). */
async function failure(call: Promise<unknown>): Promise<LambdaServiceException> {
  const outcome = await call.then(
    () => undefined,
    (err: LambdaServiceException) => err,
  );
  if (!outcome) throw new Error('expected the call to fail');
  return outcome;
}

describe('Lambda control plane through @aws-sdk/client-lambda', () => {
  test('CreateFunction: defaults, code hash and size, Pending in the answer; the waiters see Active; GetFunction and GetFunctionConfiguration agree', async () => {
    const created = await lambda.send(new CreateFunctionCommand(fn('hello', { Description: 'says hello', Tags: { team: 'core' } })));
    expect(created).toMatchObject({
      FunctionName: 'hello',
      FunctionArn: `arn:aws:lambda:us-east-1:${account.accountId}:function:hello`,
      Runtime: 'nodejs20.x',
      Role: role,
      Handler: 'index.handler',
      Description: 'says hello',
      MemorySize: 128,
      Timeout: 3,
      Version: '$LATEST',
      PackageType: 'Zip',
      Architectures: ['x86_64'],
      CodeSize: HELLO.length,
      CodeSha256: createHash('sha256').update(HELLO).digest('base64'),
      State: 'Pending',
      StateReasonCode: 'Creating',
    });
    expect(created.RevisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.LastModified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    expect((await waitUntilFunctionExists(waiter(lambda), { FunctionName: 'hello' })).state).toBe('SUCCESS');
    expect((await waitUntilFunctionActiveV2(waiter(lambda), { FunctionName: 'hello' })).state).toBe('SUCCESS');

    const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'hello' }));
    expect(got.Configuration).toMatchObject({ State: 'Active', LastUpdateStatus: 'Successful', RevisionId: created.RevisionId });
    expect(got.Tags).toEqual({ team: 'core' });
    expect(got.Code?.RepositoryType).toBe('S3');
    // Code.Location serves the zip, as AWS's presigned S3 link does.
    const download = await fetch(got.Code!.Location!);
    expect(Buffer.from(await download.arrayBuffer()).equals(Buffer.from(HELLO))).toBe(true);

    const config = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'hello' }));
    expect(config).toMatchObject({ ...got.Configuration, $metadata: expect.anything() });
    // By ARN, partial ARN and $LATEST too.
    for (const name of [created.FunctionArn!, `${account.accountId}:function:hello`, 'hello:$LATEST']) {
      expect((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }))).FunctionName).toBe('hello');
    }
  });

  test('functions are regional; ListFunctions pages with MaxItems and Marker and leaves out the state fields', async () => {
    const west = lambdaClient(cloud, account, 'us-west-2');
    for (const name of ['page-a', 'page-b', 'page-c']) await west.send(new CreateFunctionCommand(fn(name)));
    const first = await west.send(new ListFunctionsCommand({ MaxItems: 2 }));
    expect(first.Functions!.map((f) => f.FunctionName)).toEqual(['page-a', 'page-b']);
    expect(first.Functions![0].FunctionArn).toBe(`arn:aws:lambda:us-west-2:${account.accountId}:function:page-a`);
    expect(first.Functions![0].State).toBeUndefined();
    const second = await west.send(new ListFunctionsCommand({ MaxItems: 2, Marker: first.NextMarker }));
    expect(second.Functions!.map((f) => f.FunctionName)).toEqual(['page-c']);
    expect(second.NextMarker).toBeUndefined();
    const east = (await lambda.send(new ListFunctionsCommand({}))).Functions!.map((f) => f.FunctionName);
    expect(east).not.toContain('page-a');
    const err = await failure(lambda.send(new GetFunctionCommand({ FunctionName: `arn:aws:lambda:us-west-2:${account.accountId}:function:page-a` })));
    expect(err).toBeInstanceOf(ResourceNotFoundException);
    expect(err.message).toBe("Functions from 'us-west-2' are not reachable in this region ('us-east-1')");
  });

  test('UpdateFunctionConfiguration: InProgress in the answer, a new RevisionId, the waiter sees Successful; a stale RevisionId is refused', async () => {
    const created = await lambda.send(new CreateFunctionCommand(fn('configured')));
    const updated = await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'configured',
        Timeout: 30,
        MemorySize: 512,
        Description: 'bigger',
        Environment: { Variables: { STAGE: 'test' } },
        RevisionId: created.RevisionId,
      }),
    );
    expect(updated).toMatchObject({ Timeout: 30, MemorySize: 512, Description: 'bigger', Environment: { Variables: { STAGE: 'test' } }, LastUpdateStatus: 'InProgress' });
    expect(updated.RevisionId).not.toBe(created.RevisionId);
    expect((await waitUntilFunctionUpdatedV2(waiter(lambda), { FunctionName: 'configured' })).state).toBe('SUCCESS');
    const stale = await failure(lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'configured', Timeout: 5, RevisionId: created.RevisionId })));
    expect(stale).toBeInstanceOf(PreconditionFailedException);
    expect(stale.$metadata.httpStatusCode).toBe(412);
  });

  test('UpdateFunctionCode: new hash and size; DryRun changes nothing', async () => {
    await lambda.send(new CreateFunctionCommand(fn('recoded')));
    const code = zip({ 'index.js': 'exports.handler = async () => 2;', 'extra.txt': 'x'.repeat(1000) });
    const dry = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'recoded', ZipFile: code, DryRun: true }));
    expect(dry.CodeSha256).toBe(createHash('sha256').update(code).digest('base64'));
    expect((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'recoded' }))).CodeSize).toBe(HELLO.length);
    const updated = await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'recoded', ZipFile: code }));
    expect(updated).toMatchObject({ CodeSize: code.length, CodeSha256: createHash('sha256').update(code).digest('base64'), LastUpdateStatus: 'InProgress' });
    expect((await waitUntilFunctionUpdatedV2(waiter(lambda), { FunctionName: 'recoded' })).state).toBe('SUCCESS');
  });

  test('DeleteFunction: 204, then ResourceNotFoundException (404) everywhere', async () => {
    await lambda.send(new CreateFunctionCommand(fn('doomed')));
    expect((await lambda.send(new DeleteFunctionCommand({ FunctionName: 'doomed' }))).$metadata.httpStatusCode).toBe(204);
    for (const call of [
      lambda.send(new GetFunctionCommand({ FunctionName: 'doomed' })),
      lambda.send(new DeleteFunctionCommand({ FunctionName: 'doomed' })),
      lambda.send(new InvokeCommand({ FunctionName: 'doomed' })),
      lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'doomed', ZipFile: HELLO })),
    ]) {
      const err = await failure(call);
      expect(err).toBeInstanceOf(ResourceNotFoundException);
      expect(err.message).toBe(`Function not found: arn:aws:lambda:us-east-1:${account.accountId}:function:doomed`);
      expect(err.$metadata.httpStatusCode).toBe(404);
    }
    const versioned = await failure(lambda.send(new GetFunctionCommand({ FunctionName: 'hello', Qualifier: '1' })));
    expect(versioned).toBeInstanceOf(ResourceNotFoundException);
  });

  test('a second function with the same name: ResourceConflictException (409)', async () => {
    await lambda.send(new CreateFunctionCommand(fn('twice')));
    const err = await failure(lambda.send(new CreateFunctionCommand(fn('twice'))));
    expect(err).toBeInstanceOf(ResourceConflictException);
    expect(err.message).toBe('Function already exist: twice');
    expect(err.$metadata.httpStatusCode).toBe(409);
  });

  test.each<[string, Partial<CreateFunctionCommandInput>, string, RegExp]>([
    ['a name with a space', { FunctionName: 'bad name' }, 'ValidationException', /at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern/],
    ['a 65-character name', { FunctionName: 'x'.repeat(65) }, 'ValidationException', /Member must have length less than or equal to 64/],
    ['an unknown runtime', { Runtime: 'nodejs99.x' as never }, 'InvalidParameterValueException', /^Value nodejs99.x at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: \[nodejs26\.x, .*\] or be a valid ARN$/],
    ['a deprecated runtime', { Runtime: 'nodejs12.x' }, 'InvalidParameterValueException', /^The runtime parameter of nodejs12.x is no longer supported .* \(nodejs22.x\)/],
    // Blocked by Lambda since March 2026 (docs/aws-modules.md, "What the write-time checks follow").
    ['a runtime blocked in 2026', { Runtime: 'nodejs16.x' }, 'InvalidParameterValueException', /^The runtime parameter of nodejs16.x is no longer supported .* \(nodejs22.x\)/],
    ['a role that is not a role ARN', { Role: 'lambda-exec' }, 'ValidationException', /at 'role' failed to satisfy constraint/],
    [
      'a role of its account that does not exist',
      // A getter: the account exists once the tests run, not when this table is built.
      {
        get Role() {
          return `arn:aws:iam::${account.accountId}:role/nobody`;
        },
      },
      'InvalidParameterValueException',
      /^The role defined for the function cannot be assumed by Lambda\.$/,
    ],
    ['a role of another account', { Role: 'arn:aws:iam::123456789012:role/lambda-exec' }, 'InvalidParameterValueException', /cannot be assumed by Lambda/],
    ['no handler', { Handler: undefined }, 'InvalidParameterValueException', /Handler parameter is required/],
    ['a handler with a space', { Handler: 'index handler' }, 'ValidationException', /at 'handler'/],
    ['Timeout 0', { Timeout: 0 }, 'ValidationException', /Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1/],
    ['Timeout 901', { Timeout: 901 }, 'ValidationException', /Member must have value less than or equal to 900/],
    ['MemorySize 64', { MemorySize: 64 }, 'ValidationException', /at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128/],
    ['MemorySize 10241', { MemorySize: 10241 }, 'InvalidParameterValueException', /'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to 10240/],
    ['a description over 256 characters', { Description: 'd'.repeat(257) }, 'ValidationException', /at 'description'/],
    ['two architectures', { Architectures: ['x86_64', 'arm64'] }, 'ValidationException', /at 'architectures'/],
    ['a file that is not a zip', { Code: { ZipFile: Buffer.from('not a zip') } }, 'InvalidParameterValueException', /^Could not unzip uploaded file/],
    ['no code', { Code: {} }, 'InvalidParameterValueException', /source for function code/],
    ['code in S3', { Code: { S3Bucket: 'b', S3Key: 'k' } }, 'InvalidParameterValueException', /not emulated/],
    ['a reserved variable', { Environment: { Variables: { AWS_REGION: 'x' } } }, 'InvalidParameterValueException', /reserved keys .* Reserved keys used in this request: AWS_REGION$/],
    ['a one-letter variable', { Environment: { Variables: { A: 'x' } } }, 'ValidationException', /Map keys must satisfy constraint/],
    ['variables over 4 KB', { Environment: { Variables: { BIG: 'x'.repeat(4100) } } }, 'InvalidParameterValueException', /exceeded the 4KB limit/],
    ['layers', { Layers: ['arn:aws:lambda:us-east-1:123456789012:layer:l:1'] }, 'InvalidParameterValueException', /Layers is not emulated by the iasql local cloud/],
    ['a VPC', { VpcConfig: { SubnetIds: ['subnet-1'], SecurityGroupIds: ['sg-1'] } }, 'InvalidParameterValueException', /VpcConfig is not emulated/],
    ['an image package', { PackageType: 'Image', Code: { ImageUri: 'x' } }, 'InvalidParameterValueException', /PackageType Image is not emulated/],
    ['51 tags', { Tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }, 'InvalidParameterValueException', /tag limit/],
  ])('CreateFunction refuses %s as AWS does', async (_what, change, type, message) => {
    const input = { ...fn('refused'), ...change };
    const err = await failure(lambda.send(new CreateFunctionCommand(input)));
    expect(err.name).toBe(type);
    expect(err.message).toMatch(message);
    if (type === 'InvalidParameterValueException') expect(err).toBeInstanceOf(InvalidParameterValueException);
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect((await lambda.send(new ListFunctionsCommand({}))).Functions!.map((f) => f.FunctionName)).not.toContain('refused');
  });

  test('a role whose trust policy does not name Lambda cannot be used', async () => {
    const { Role } = await iamClient(cloud, account).send(new CreateRoleCommand({ RoleName: 'for-ec2', AssumeRolePolicyDocument: trustPolicy('ec2.amazonaws.com') }));
    const err = await failure(lambda.send(new CreateFunctionCommand(fn('ec2-role', { Role: Role!.Arn }))));
    expect(err).toBeInstanceOf(InvalidParameterValueException);
    expect(err.message).toBe('The role defined for the function cannot be assumed by Lambda.');
  });

  test('updates are validated too', async () => {
    await lambda.send(new CreateFunctionCommand(fn('strict')));
    const cases: Array<[Promise<unknown>, string]> = [
      [lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'strict', Timeout: 1000 })), 'ValidationException'],
      [lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'strict', Runtime: 'go1.x' })), 'InvalidParameterValueException'],
      [lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'strict', Role: `arn:aws:iam::${account.accountId}:role/nobody` })), 'InvalidParameterValueException'],
      [lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'strict', ZipFile: Buffer.from('nope') })), 'InvalidParameterValueException'],
    ];
    for (const [call, type] of cases) expect((await failure(call)).name).toBe(type);
    expect((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'strict' }))).Timeout).toBe(3);
  });

  test('a zip over 50 MB: RequestEntityTooLargeException (413)', async () => {
    const big = Buffer.alloc(50 * 1024 * 1024 + 1, 7);
    const err = await failure(lambda.send(new CreateFunctionCommand(fn('too-big', { Code: { ZipFile: big } }))));
    expect(err.name).toBe('RequestEntityTooLargeException');
    expect(err.message).toBe('Request must be smaller than 69905067 bytes for the CreateFunction operation');
    expect(err.$metadata.httpStatusCode).toBe(413);
  });

  test('a zip over 250 MB unzipped: InvalidParameterValueException', async () => {
    const big = await zipOfZeros('big.bin', 250 * 1024 * 1024 + 1);
    expect(big.length).toBeLessThan(2 * 1024 * 1024);
    const err = await failure(lambda.send(new CreateFunctionCommand(fn('too-big-unzipped', { Code: { ZipFile: big } }))));
    expect(err).toBeInstanceOf(InvalidParameterValueException);
    expect(err.message).toBe('Unzipped size must be smaller than 262144000 bytes');
  });

  test('tags: TagResource, ListTags, UntagResource; a missing function is ResourceNotFoundException', async () => {
    const { FunctionArn } = await lambda.send(new CreateFunctionCommand(fn('tagged', { Tags: { a: '1' } })));
    await lambda.send(new TagResourceCommand({ Resource: FunctionArn, Tags: { b: '2', a: 'one' } }));
    expect((await lambda.send(new ListTagsCommand({ Resource: FunctionArn }))).Tags).toEqual({ a: 'one', b: '2' });
    await lambda.send(new UntagResourceCommand({ Resource: FunctionArn, TagKeys: ['a'] }));
    expect((await lambda.send(new ListTagsCommand({ Resource: FunctionArn }))).Tags).toEqual({ b: '2' });
    expect((await lambda.send(new GetFunctionCommand({ FunctionName: 'tagged' }))).Tags).toEqual({ b: '2' });
    const missing = await failure(lambda.send(new ListTagsCommand({ Resource: `arn:aws:lambda:us-east-1:${account.accountId}:function:nope` })));
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    const badArn = await failure(lambda.send(new TagResourceCommand({ Resource: 'tagged', Tags: { c: '3' } })));
    expect(badArn.name).toBe('ValidationException');
  });

  test('an operation it does not emulate is named in the error', async () => {
    const res = await failure(lambda.send(new ListAliasesCommand({ FunctionName: 'hello' })));
    expect(res.name).toBe('UnknownOperationException');
    expect(res.message).toContain('does not emulate GET /2015-03-31/functions/hello/aliases');
  });
});

describe('the AWS CLI against the local cloud', () => {
  test('aws lambda list-functions and aws iam list-roles see what the SDK made', async () => {
    const aws = awsCli(cloud.endpoint, account);
    const functions = await aws('lambda', 'list-functions');
    expect(functions.Functions.map((f: { FunctionName: string }) => f.FunctionName)).toContain('hello');
    const hello = await aws('lambda', 'get-function', '--function-name', 'hello');
    expect(hello.Configuration.State).toBe('Active');
    const roles = await aws('iam', 'list-roles');
    const sdkRoles = (await iamClient(cloud, account).send(new ListRolesCommand({}))).Roles!.map((r) => r.RoleName);
    expect(roles.Roles.map((r: { RoleName: string }) => r.RoleName)).toEqual(sdkRoles);
    expect(sdkRoles).toContain('lambda-exec');
  });

  test('signed by botocore: an ARN in the path, tag keys with spaces and slashes in the query', async () => {
    const aws = awsCli(cloud.endpoint, account);
    const { FunctionArn: arn } = await lambda.send(new CreateFunctionCommand(fn('cli-tagged')));
    await aws('lambda', 'tag-resource', '--resource', arn!, '--tags', JSON.stringify({ 'cost center': 'a/b', keep: '1' }));
    await aws('lambda', 'untag-resource', '--resource', arn!, '--tag-keys', 'cost center', 'team');
    expect((await lambda.send(new ListTagsCommand({ Resource: arn }))).Tags).toEqual({ keep: '1' });
    expect((await aws('lambda', 'get-function-configuration', '--function-name', arn!)).FunctionArn).toBe(arn);
  });
});
