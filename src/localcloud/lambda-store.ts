import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, writeFileAtomic } from './files';

/** A function's $LATEST configuration as Lambda describes it, without the state fields (added per answer). */
export interface FunctionConfig {
  FunctionName: string;
  FunctionArn: string;
  Runtime: string;
  Role: string;
  Handler: string;
  CodeSize: number;
  Description: string;
  Timeout: number;
  MemorySize: number;
  LastModified: string;
  CodeSha256: string;
  Version: '$LATEST';
  Environment?: { Variables: Record<string, string> };
  TracingConfig: { Mode: string };
  RevisionId: string;
  PackageType: 'Zip';
  Architectures: string[];
  EphemeralStorage: { Size: number };
  SnapStart: { ApplyOn: 'None'; OptimizationStatus: 'Off' };
  LoggingConfig: { LogFormat: string; LogGroup: string };
}

export interface StoredFunction {
  config: FunctionConfig;
  tags: Record<string, string>;
}

/** Where a function lives: functions belong to an account and a region. */
export interface FunctionHome {
  accountId: string;
  region: string;
}

/**
 * Functions per account and region: in memory, and with a data directory also on disk as
 * `<dataDir>/<accountId>/<region>/<name>.json` (configuration and tags) and `<name>.zip` (the
 * code, written before the JSON that names its hash). Zips are kept in memory only without a
 * data directory.
 */
export class FunctionStore {
  /** By `<accountId>/<region>`. */
  private readonly homes = new Map<string, Map<string, StoredFunction>>();
  private readonly zips = new Map<string, Buffer>();

  constructor(private readonly dataDir: string | undefined) {
    if (!dataDir || !fs.existsSync(dataDir)) return;
    // Only account directories: functions from before accounts (`<dataDir>/<region>/`) belong to nobody.
    for (const accountId of fs.readdirSync(dataDir).filter((d) => /^\d{12}$/.test(d))) {
      for (const region of fs.readdirSync(path.join(dataDir, accountId))) {
        const dir = path.join(dataDir, accountId, region);
        if (!fs.statSync(dir).isDirectory()) continue;
        for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
          const stored = readJsonFile<StoredFunction>(path.join(dir, file));
          if (stored && fs.existsSync(path.join(dir, `${stored.config.FunctionName}.zip`))) this.home({ accountId, region }).set(stored.config.FunctionName, stored);
        }
      }
    }
  }

  list(home: FunctionHome): StoredFunction[] {
    return [...this.home(home).values()].sort((a, b) => a.config.FunctionName.localeCompare(b.config.FunctionName));
  }

  get(home: FunctionHome, name: string): StoredFunction | undefined {
    return this.home(home).get(name);
  }

  /** Saves a function; `zip` when its code is new or changed. */
  put(home: FunctionHome, fn: StoredFunction, zip?: Buffer): void {
    const name = fn.config.FunctionName;
    if (this.dataDir) {
      if (zip) writeFileAtomic(this.file(home, `${name}.zip`), zip);
      writeFileAtomic(this.file(home, `${name}.json`), JSON.stringify(fn, null, 1));
    } else if (zip) {
      this.zips.set(key(home, name), zip);
    }
    this.home(home).set(name, fn);
  }

  zip(home: FunctionHome, name: string): Buffer {
    if (!this.dataDir) return this.zips.get(key(home, name))!;
    return fs.readFileSync(this.file(home, `${name}.zip`));
  }

  delete(home: FunctionHome, name: string): void {
    this.home(home).delete(name);
    this.zips.delete(key(home, name));
    if (this.dataDir) {
      fs.rmSync(this.file(home, `${name}.json`), { force: true });
      fs.rmSync(this.file(home, `${name}.zip`), { force: true });
    }
  }

  /** Every function of the account, in every region; then forgets them all, on disk too. */
  removeAccount(accountId: string): Array<{ region: string; name: string }> {
    const removed: Array<{ region: string; name: string }> = [];
    for (const [k, functions] of this.homes) {
      const [owner, region] = k.split('/');
      if (owner !== accountId) continue;
      for (const name of functions.keys()) {
        removed.push({ region, name });
        this.zips.delete(`${k}/${name}`);
      }
      this.homes.delete(k);
    }
    if (this.dataDir) fs.rmSync(path.join(this.dataDir, accountId), { recursive: true, force: true });
    return removed;
  }

  private file(home: FunctionHome, name: string): string {
    return path.join(this.dataDir!, home.accountId, home.region, name);
  }

  private home(home: FunctionHome): Map<string, StoredFunction> {
    const k = `${home.accountId}/${home.region}`;
    let functions = this.homes.get(k);
    if (!functions) this.homes.set(k, (functions = new Map()));
    return functions;
  }
}

const key = (home: FunctionHome, name: string) => `${home.accountId}/${home.region}/${name}`;
