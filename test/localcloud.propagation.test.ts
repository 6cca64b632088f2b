import { CreateTableCommand, DescribeTableCommand, DynamoDBServiceException, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateRoleCommand, GetRoleCommand, IAMServiceException } from '@aws-sdk/client-iam';
import { CreateFunctionCommand, GetFunctionCommand, LambdaServiceException } from '@aws-sdk/client-lambda';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { dynamoClient, iamClient, lambdaClient, newAccount, trustPolicy, zip } from './support/localcloud';
import { waitFor } from './support/wait';

// propagationMs: the local cloud as eventually consistent as AWS, checked through the SDK. Waits
// are on conditions (the role becomes usable, the table ACTIVE), never on the clock.
const logger = createLogger('silent');
const CODE = zip({ 'index.js': 'exports.handler = async () => 1' });

let cloud: LocalCloud;
let account: LocalAccount;
beforeAll(async () => {
  cloud = await startLocalCloud({ port: 0, logger, propagationMs: 1500 });
  account = await newAccount(cloud);
});
afterAll(() => cloud.stop());

const outcome = <E>(call: Promise<unknown>): Promise<E | 'ok'> =>
  call.then(
    () => 'ok' as const,
    (err: E) => err,
  );

test('a new role: GetRole does not find it at first, Lambda cannot assume it for longer, both with AWS errors; then both work', async () => {
  const iam = iamClient(cloud, account);
  const lambda = lambdaClient(cloud, account);
  const { Role } = await iam.send(new CreateRoleCommand({ RoleName: 'young', AssumeRolePolicyDocument: trustPolicy() }));
  expect(await outcome<IAMServiceException>(iam.send(new GetRoleCommand({ RoleName: 'young' })))).toMatchObject({
    name: 'NoSuchEntityException',
    message: 'The role with name young cannot be found.',
    $metadata: { httpStatusCode: 404 },
  });
  await waitFor('GetRole to find the role', async () => ((await outcome(iam.send(new GetRoleCommand({ RoleName: 'young' })))) === 'ok' ? true : undefined));
  const create = () => lambda.send(new CreateFunctionCommand({ FunctionName: 'early', Role: Role!.Arn, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: CODE } }));
  // Visible to IAM is not yet usable by Lambda (a quarter of the delay against all of it).
  expect(await outcome<LambdaServiceException>(create())).toMatchObject({
    name: 'InvalidParameterValueException',
    message: 'The role defined for the function cannot be assumed by Lambda.',
    $metadata: { httpStatusCode: 400 },
  });
  await waitFor('Lambda to accept the role', async () => {
    const r = await outcome<LambdaServiceException>(create());
    if (r === 'ok') return true;
    expect(r.name).toBe('InvalidParameterValueException');
    return undefined;
  });
  expect((await lambda.send(new GetFunctionCommand({ FunctionName: 'early' }))).Configuration?.Role).toBe(Role!.Arn);
});

test('a DynamoDB table stays CREATING, then UPDATING; UpdateTable meanwhile is refused with ResourceInUseException, as AWS does', async () => {
  const ddb = dynamoClient(cloud, account);
  const status = async () => (await ddb.send(new DescribeTableCommand({ TableName: 'slow' }))).Table?.TableStatus;
  const update = (n: number) => ddb.send(new UpdateTableCommand({ TableName: 'slow', ProvisionedThroughput: { ReadCapacityUnits: n, WriteCapacityUnits: n } }));
  await ddb.send(
    new CreateTableCommand({
      TableName: 'slow',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 },
    }),
  );
  expect(await status()).toBe('CREATING');
  expect(await outcome<DynamoDBServiceException>(update(2))).toMatchObject({
    name: 'ResourceInUseException',
    message: 'Attempt to change a resource which is still in use: Table is being created: slow',
    $metadata: { httpStatusCode: 400 },
  });
  await waitFor('the table to be ACTIVE', async () => ((await status()) === 'ACTIVE' ? true : undefined));
  await update(2);
  expect(await status()).toBe('UPDATING');
  expect(await outcome<DynamoDBServiceException>(update(3))).toMatchObject({
    name: 'ResourceInUseException',
    message: 'Attempt to change a resource which is still in use: Table is being updated: slow',
  });
  await waitFor('the update to end', async () => ((await status()) === 'ACTIVE' ? true : undefined));
  expect((await ddb.send(new DescribeTableCommand({ TableName: 'slow' }))).Table?.ProvisionedThroughput).toMatchObject({ ReadCapacityUnits: 2, WriteCapacityUnits: 2 });
});
