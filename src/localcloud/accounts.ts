import { randomBytes, randomInt } from 'node:crypto';
import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from './files';

/** One tenant of the local cloud: what it owns is named by its account id, and it signs with its key. */
export interface LocalAccount {
  /** Whose account this is: a managed database's name. */
  label: string;
  /** 12 digits, in every ARN of what the account owns. */
  accountId: string;
  /** AKIA + 16 uppercase letters and digits. */
  accessKeyId: string;
  /** 40 characters; requests are signed with it (SigV4) and verified against it. */
  secretAccessKey: string;
}

/** The accounts part of the local cloud's API (`LocalCloud.accounts`). */
export interface LocalAccounts {
  /**
   * A new account for `label` (a managed database name): random 12-digit account id, fresh
   * access key id and 40-character secret. If `label` already has an account, that one and
   * everything it owns are removed first.
   */
  create(label: string): Promise<LocalAccount>;
  get(label: string): LocalAccount | undefined;
  /**
   * Removes the account and everything it owns (DynamoDB tables and items in every region, Lambda
   * functions and their warm instances, IAM roles). No-op when unknown.
   */
  remove(label: string): Promise<void>;
}

interface AccountsFile {
  version: 1;
  accounts: LocalAccount[];
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * The accounts, by label and by access key. Kept in `<dataDir>/accounts.json` (mode 0600: it
 * holds the secrets) when there is a data directory, in memory otherwise. Changes run one at a
 * time, so a create racing a remove of the same label cannot leave two accounts or half of one.
 */
export class AccountRegistry implements LocalAccounts {
  private readonly byLabel = new Map<string, LocalAccount>();
  /** The keys that authenticate: an account being removed is out of here first. */
  private readonly byKey = new Map<string, LocalAccount>();
  private readonly file: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    dataDir: string | undefined,
    /** Deletes everything the account owns, in every service. */
    private readonly removeResources: (accountId: string) => Promise<void>,
  ) {
    this.file = dataDir && path.join(dataDir, 'accounts.json');
    for (const account of (this.file && readJsonFile<AccountsFile>(this.file)?.accounts) || []) {
      this.byLabel.set(account.label, account);
      this.byKey.set(account.accessKeyId, account);
    }
  }

  /** The account that signs with this access key id, if any. */
  byAccessKey(accessKeyId: string): LocalAccount | undefined {
    return this.byKey.get(accessKeyId);
  }

  get(label: string): LocalAccount | undefined {
    const account = this.byLabel.get(label);
    return account && this.byKey.has(account.accessKeyId) ? { ...account } : undefined;
  }

  async create(label: string): Promise<LocalAccount> {
    checkLabel(label);
    return this.serialized(async () => {
      const old = this.byLabel.get(label);
      if (old) await this.drop(old);
      const account: LocalAccount = { label, accountId: this.newAccountId(), accessKeyId: this.newAccessKeyId(), secretAccessKey: randomBytes(30).toString('base64') };
      this.byLabel.set(label, account);
      this.byKey.set(account.accessKeyId, account);
      this.save();
      return { ...account };
    });
  }

  remove(label: string): Promise<void> {
    return this.serialized(async () => {
      const account = this.byLabel.get(label);
      if (account) await this.drop(account);
    });
  }

  /**
   * Its key stops working at once; then its resources go; only then is it forgotten on disk, so
   * a crash in between leaves an account that a later remove or create removes again, never
   * resources nobody owns.
   */
  private async drop(account: LocalAccount): Promise<void> {
    this.byKey.delete(account.accessKeyId);
    await this.removeResources(account.accountId);
    this.byLabel.delete(account.label);
    this.save();
  }

  private serialized<T>(change: () => Promise<T>): Promise<T> {
    const run = this.queue.then(change, change);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private newAccountId(): string {
    const taken = new Set([...this.byLabel.values()].map((a) => a.accountId));
    for (;;) {
      // 000000000000 is what every client shared before accounts (and LocalStack's): never hand it out.
      const id = String(randomInt(1, 1e12)).padStart(12, '0');
      if (!taken.has(id)) return id;
    }
  }

  private newAccessKeyId(): string {
    for (;;) {
      const id = `AKIA${Array.from({ length: 16 }, () => KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]).join('')}`;
      if (!this.byKey.has(id)) return id;
    }
  }

  private save(): void {
    if (!this.file) return;
    const data: AccountsFile = { version: 1, accounts: [...this.byLabel.values()] };
    writeFileAtomic(this.file, JSON.stringify(data, null, 1));
  }
}

function checkLabel(label: unknown): void {
  if (typeof label !== 'string' || label.length === 0 || label.length > 255 || /[\u0000-\u001f]/.test(label)) {
    throw new Error(`a local cloud account label is 1 to 255 characters without control characters, not ${JSON.stringify(label)}`);
  }
}
