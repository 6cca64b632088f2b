import { CreateTableCommand, DescribeTableCommand, DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { AttachRolePolicyCommand, CreateRoleCommand, GetRoleCommand, IAMServiceException, ListAttachedRolePoliciesCommand } from '@aws-sdk/client-iam';
import { CreateFunctionCommand, GetFunctionCommand, LambdaServiceException } from '@aws-sdk/client-lambda';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { dynamoClient, iamClient, lambdaClient, newAccount, trustPolicy, zip } from './support/localcloud';

// Faults injected from the test's own process: a chosen request is refused with an AWS-shaped
// error of its protocol, before the service sees it. Checked through the real SDK clients.
const logger = createLogger('silent');
const BASIC = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

let cloud: LocalCloud;
let account: LocalAccount;
beforeAll(async () => {
  cloud = await startLocalCloud({ port: 0, logger });
  account = await newAccount(cloud);
});
afterEach(() => cloud.faults.clear());
afterAll(() => cloud.stop());

async function failure<E>(call: Promise<unknown>): Promise<E> {
  const outcome = await call.then(
    () => undefined,
    (err: E) => err,
  );
  if (!outcome) throw new Error('expected the call to fail');
  return outcome;
}

test('IAM: an injected AttachRolePolicy fault fails that call only, `times` times, with the error as the SDK reads IAM errors', async () => {
  const iam = iamClient(cloud, account);
  await iam.send(new CreateRoleCommand({ RoleName: 'faulty', AssumeRolePolicyDocument: trustPolicy() }));
  cloud.faults.inject({
    service: 'iam',
    operation: 'AttachRolePolicy',
    error: { name: 'ServiceFailure', message: 'injected: try again later', status: 500 },
    times: 2,
  });
  const attach = () => iam.send(new AttachRolePolicyCommand({ RoleName: 'faulty', PolicyArn: BASIC }));
  for (let i = 0; i < 2; i++) {
    const err = await failure<IAMServiceException>(attach());
    expect(err).toMatchObject({ name: 'ServiceFailureException', message: 'injected: try again later', $metadata: { httpStatusCode: 500 } });
    // Other calls of the same service go through while the fault is in force.
    expect((await iam.send(new GetRoleCommand({ RoleName: 'faulty' }))).Role?.RoleName).toBe('faulty');
  }
  // Used up after two: the third reaches IAM, which attaches the policy.
  await attach();
  expect((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'faulty' }))).AttachedPolicies?.map((p) => p.PolicyArn)).toEqual([BASIC]);
});

test('`when` picks requests by their input; the returned function removes the fault; other accounts are untouched', async () => {
  const iam = iamClient(cloud, account);
  const remove = cloud.faults.inject({
    service: 'iam',
    operation: 'GetRole',
    error: { name: 'NoSuchEntity', message: 'The role with name ghostly cannot be found.', status: 404 },
    when: (r) => r.input.RoleName === 'ghostly' && r.accountId === account.accountId,
  });
  await iam.send(new CreateRoleCommand({ RoleName: 'ghostly', AssumeRolePolicyDocument: trustPolicy() }));
  await iam.send(new CreateRoleCommand({ RoleName: 'solid', AssumeRolePolicyDocument: trustPolicy() }));
  // Until removed, every matching request fails (no `times`).
  for (let i = 0; i < 3; i++) {
    expect(await failure<IAMServiceException>(iam.send(new GetRoleCommand({ RoleName: 'ghostly' })))).toMatchObject({ name: 'NoSuchEntityException', $metadata: { httpStatusCode: 404 } });
  }
  expect((await iam.send(new GetRoleCommand({ RoleName: 'solid' }))).Role?.RoleName).toBe('solid');
  const other = await newAccount(cloud);
  const otherIam = iamClient(cloud, other);
  await otherIam.send(new CreateRoleCommand({ RoleName: 'ghostly', AssumeRolePolicyDocument: trustPolicy() }));
  expect((await otherIam.send(new GetRoleCommand({ RoleName: 'ghostly' }))).Role?.RoleName).toBe('ghostly');
  remove();
  expect((await iam.send(new GetRoleCommand({ RoleName: 'ghostly' }))).Role?.RoleName).toBe('ghostly');
});

test('Lambda (REST-JSON): the error type and message reach the SDK; the function is not created', async () => {
  const iam = iamClient(cloud, account);
  const { Role } = await iam.send(new CreateRoleCommand({ RoleName: 'fn-role', AssumeRolePolicyDocument: trustPolicy() }));
  const lambda = lambdaClient(cloud, account);
  cloud.faults.inject({
    service: 'lambda',
    operation: 'CreateFunction',
    error: { name: 'InvalidParameterValueException', message: 'The role defined for the function cannot be assumed by Lambda.' },
    times: 1,
    when: (r) => r.input.FunctionName === 'hello',
  });
  const create = () =>
    lambda.send(new CreateFunctionCommand({ FunctionName: 'hello', Role: Role!.Arn, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: zip({ 'index.js': 'exports.handler = async () => 1' }) } }));
  const err = await failure<LambdaServiceException>(create());
  expect(err).toMatchObject({ name: 'InvalidParameterValueException', message: 'The role defined for the function cannot be assumed by Lambda.', $metadata: { httpStatusCode: 400 } });
  expect(await failure<LambdaServiceException>(lambda.send(new GetFunctionCommand({ FunctionName: 'hello' })))).toMatchObject({ name: 'ResourceNotFoundException' });
  await create();
  expect((await lambda.send(new GetFunctionCommand({ FunctionName: 'hello' }))).Configuration?.Role).toBe(Role!.Arn);
});

test('DynamoDB (JSON 1.0): the error reaches the SDK as that exception; the table is not created', async () => {
  const ddb = dynamoClient(cloud, account);
  cloud.faults.inject({
    service: 'dynamodb',
    operation: 'CreateTable',
    error: { name: 'LimitExceededException', message: 'Subscriber limit exceeded: Only 50 tables can be created, updated, or deleted simultaneously' },
    times: 1,
  });
  const create = () =>
    ddb.send(
      new CreateTableCommand({ TableName: 'busy', BillingMode: 'PAY_PER_REQUEST', KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }] }),
    );
  expect(await failure<DynamoDBServiceException>(create())).toMatchObject({ name: 'LimitExceededException', message: expect.stringMatching(/simultaneously$/), $metadata: { httpStatusCode: 400 } });
  expect(await failure<DynamoDBServiceException>(ddb.send(new DescribeTableCommand({ TableName: 'busy' })))).toMatchObject({ name: 'ResourceNotFoundException' });
  await create();
  expect((await ddb.send(new DescribeTableCommand({ TableName: 'busy' }))).Table?.TableName).toBe('busy');
});
