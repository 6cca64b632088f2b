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

/**
 * Functions per region: in memory, and with a data directory also on disk as
 * `<dataDir>/<region>/<name>.json` (configuration and tags) and `<name>.zip` (the code, written
 * before the JSON that names its hash). Zips are kept in memory only without a data directory.
 */
export class FunctionStore {
  private readonly regions = new Map<string, Map<string, StoredFunction>>();
  private readonly zips = new Map<string, Buffer>();

  constructor(private readonly dataDir: string | undefined) {
    if (!dataDir || !fs.existsSync(dataDir)) return;
    for (const region of fs.readdirSync(dataDir)) {
      const dir = path.join(dataDir, region);
      if (!fs.statSync(dir).isDirectory()) continue;
      for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
        const stored = readJsonFile<StoredFunction>(path.join(dir, file));
        if (stored && fs.existsSync(path.join(dir, `${stored.config.FunctionName}.zip`))) this.region(region).set(stored.config.FunctionName, stored);
      }
    }
  }

  list(region: string): StoredFunction[] {
    return [...this.region(region).values()].sort((a, b) => a.config.FunctionName.localeCompare(b.config.FunctionName));
  }

  get(region: string, name: string): StoredFunction | undefined {
    return this.region(region).get(name);
  }

  /** Saves a function; `zip` when its code is new or changed. */
  put(region: string, fn: StoredFunction, zip?: Buffer): void {
    const name = fn.config.FunctionName;
    if (this.dataDir) {
      if (zip) writeFileAtomic(path.join(this.dataDir, region, `${name}.zip`), zip);
      writeFileAtomic(path.join(this.dataDir, region, `${name}.json`), JSON.stringify(fn, null, 1));
    } else if (zip) {
      this.zips.set(`${region}/${name}`, zip);
    }
    this.region(region).set(name, fn);
  }

  zip(region: string, name: string): Buffer {
    if (!this.dataDir) return this.zips.get(`${region}/${name}`)!;
    return fs.readFileSync(path.join(this.dataDir, region, `${name}.zip`));
  }

  delete(region: string, name: string): void {
    this.region(region).delete(name);
    this.zips.delete(`${region}/${name}`);
    if (this.dataDir) {
      fs.rmSync(path.join(this.dataDir, region, `${name}.json`), { force: true });
      fs.rmSync(path.join(this.dataDir, region, `${name}.zip`), { force: true });
    }
  }

  private region(region: string): Map<string, StoredFunction> {
    let functions = this.regions.get(region);
    if (!functions) this.regions.set(region, (functions = new Map()));
    return functions;
  }
}
