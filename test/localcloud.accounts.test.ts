import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { startLocalCloud, type LocalAccount, type LocalCloud } from '../src/localcloud';
import { createLogger } from '../src/logger';
import { dynamoClient } from './support/localcloud';

const logger = createLogger('silent');
let dataDir: string;
let cloud: LocalCloud;
beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-accounts-'));
  cloud = await startLocalCloud({ port: 0, logger, dataDir });
});
afterAll(async () => {
  await cloud.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const saved = (): LocalAccount[] => JSON.parse(fs.readFileSync(path.join(dataDir, 'accounts.json'), 'utf8')).accounts;
const works = (account: LocalAccount) =>
  dynamoClient(cloud, account)
    .send(new ListTablesCommand({}))
    .then(
      () => 'works',
      (err: Error) => err.name,
    );

describe('cloud.accounts', () => {
  test('create returns the account; get finds it by label; a copy, not the registry itself', async () => {
    const account = await cloud.accounts.create('db_one');
    expect(account).toEqual({ label: 'db_one', accountId: expect.stringMatching(/^\d{12}$/), accessKeyId: expect.stringMatching(/^AKIA[A-Z0-9]{16}$/), secretAccessKey: expect.any(String) });
    expect(account.secretAccessKey).toHaveLength(40);
    expect(cloud.accounts.get('db_one')).toEqual(account);
    expect(cloud.accounts.get('db_two')).toBeUndefined();
    (cloud.accounts.get('db_one') as LocalAccount).secretAccessKey = 'changed by a caller';
    expect(cloud.accounts.get('db_one')).toEqual(account);
    expect(await works(account)).toBe('works');
  });

  test('kept in accounts.json, mode 0600, and forgotten there on remove', async () => {
    const account = await cloud.accounts.create('db_saved');
    expect(saved()).toContainEqual(account);
    expect(fs.statSync(path.join(dataDir, 'accounts.json')).mode & 0o777).toBe(0o600);
    // The atomic write leaves no temporary file behind.
    expect(fs.readdirSync(dataDir).filter((f) => f.includes('.tmp'))).toEqual([]);
    await cloud.accounts.remove('db_saved');
    expect(saved().map((a) => a.label)).not.toContain('db_saved');
  });

  test('labels: empty, over 255 characters or with control characters are refused', async () => {
    for (const label of ['', 'x'.repeat(256), 'a\nb']) {
      await expect(cloud.accounts.create(label)).rejects.toThrow(/label is 1 to 255 characters/);
    }
  });

  test('concurrent creates of one label leave exactly one account: the last one', async () => {
    const [first, second, third] = await Promise.all([cloud.accounts.create('db_race'), cloud.accounts.create('db_race'), cloud.accounts.create('db_race')]);
    expect(cloud.accounts.get('db_race')).toEqual(third);
    expect(await works(third)).toBe('works');
    expect(await works(first)).toBe('UnrecognizedClientException');
    expect(await works(second)).toBe('UnrecognizedClientException');
    expect(saved().filter((a) => a.label === 'db_race')).toEqual([third]);
  });

  test('a remove racing a create of the same label: whichever was asked last wins', async () => {
    const [created] = await Promise.all([cloud.accounts.create('db_flip'), cloud.accounts.remove('db_flip')]);
    expect(cloud.accounts.get('db_flip')).toBeUndefined();
    expect(await works(created)).toBe('UnrecognizedClientException');
    const [, again] = await Promise.all([cloud.accounts.remove('db_flip'), cloud.accounts.create('db_flip')]);
    expect(cloud.accounts.get('db_flip')).toEqual(again);
  });
});
