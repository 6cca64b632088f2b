import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../src/config';
import { startEngine } from '../src/engine';
import { IasqlError } from '../src/errors';
import { createLogger } from '../src/logger';
import { RPC_TYPES } from '../src/modules/define';
import { BUILTIN_MODULES_DIR, ModuleRegistry } from '../src/modules/registry';
import { CLI } from './support/cli';
import { serverUrl, uniq, withClient } from './support/engine';
import { freePort } from './support/free-port';
import { FIXTURE_MODULES } from './support/modules';

// The registry refuses invalid modules with messages that name the module, version and file, and
// lists every problem at once; the engine refuses to start on them. One folder per broken case.
const INVALID = path.join(__dirname, 'fixtures', 'invalid');
const caseDir = (name: string) => path.join(INVALID, name);
/** A file of a fixture module, as the registry names it in messages. */
const fixture = (...parts: string[]) => path.join(INVALID, ...parts);

const HEADER = 'the module registry is invalid:\n  - ';

/** Loads the built-in modules plus `dirs`; returns the error it must throw. */
function loadError(dirs: string[]): IasqlError {
  let thrown: unknown;
  try {
    ModuleRegistry.load([BUILTIN_MODULES_DIR, ...dirs]);
  } catch (err) {
    thrown = err;
  }
  if (thrown === undefined) throw new Error(`the registry accepted ${dirs.join(', ')}`);
  expect(thrown).toBeInstanceOf(IasqlError);
  const err = thrown as IasqlError;
  expect(err.code).toBe('invalid_modules');
  expect(err.message.startsWith(HEADER)).toBe(true);
  return err;
}

/** The problems listed in the registry's error, one per entry. */
const problemsOf = (dirs: string[]) => loadError(dirs).message.slice(HEADER.length).split('\n  - ');
const sorted = (xs: string[]) => [...xs].sort();

/** Every case and exactly the problems it must report (all of them, in one error). */
const CASES: Record<string, string[]> = {
  cycle: ['dependency cycle: cyc_a -> cyc_b -> cyc_c -> cyc_a'],
  collision: ["table 'collision_item' is claimed by two modules: 'collide_left' and 'collide_right'"],
  'missing-file': [
    `module 'missing_files' version 0.1.0: after_install hook file 0.1.0/after_install.sql is missing (looked for ${fixture('missing-file', 'missing_files', '0.1.0', 'after_install.sql')})`,
    `module 'missing_files' version 0.2.0: migration down file 0.2.0/down.sql is missing (looked for ${fixture('missing-file', 'missing_files', '0.2.0', 'down.sql')})`,
  ],
  'unknown-dependency': ["module 'needs_ghost' version 0.1.0 depends on unknown module 'ghost_module'"],
  'bad-name': [
    `${fixture('bad-name', 'hyphen', 'index.ts')}: invalid module name 'has-hyphen' (lowercase letters, digits, _; starts with a letter)`,
    `${fixture('bad-name', 'upper', 'index.ts')}: invalid module name 'Upper_case' (lowercase letters, digits, _; starts with a letter)`,
  ],
  'bad-version': [
    "module 'ver_format': invalid version '1.0' (use x.y.z)",
    "module 'ver_order': versions must be listed oldest first, each greater than the one before (0.2.0 then 0.1.0)",
  ],
  'bad-rpc': [
    `module 'rpc_bad' version 0.1.0 rpc rpc_weigh: argument 'weight' has unsupported type 'float' (use ${RPC_TYPES.join(', ')})`,
    "module 'rpc_bad' version 0.1.0 rpc rpc_label: required argument 'label' follows an optional one",
    "module 'rpc_bad' version 0.1.0 rpc rpc_count: returns must be { scalar: type } or { table: [{ name, type }, ...] }",
  ],
  'entity-without-table-name': ["module 'nameless' version 0.1.0: entity NamelessThing must name its table: @Entity('table_name')"],
  'entity-schema-without-table-name': ["module 'schema_nameless' version 0.1.0: EntitySchema SchemaNameless must name its table: tableName: 'table_name'"],
  'rpc-collision': ["rpc method 'resize' is declared by two modules: 'rpc_left' and 'rpc_right'"],
  duplicate: [
    `module 'dup_twice' is defined twice: ${fixture('duplicate', 'dup_first', 'index.ts')} and ${fixture('duplicate', 'dup_second', 'index.ts')}`,
  ],
};

describe('ModuleRegistry.load refuses invalid modules', () => {
  test.each(Object.entries(CASES))('%s', (name, expected) => {
    expect(sorted(problemsOf([caseDir(name)]))).toEqual(sorted(expected));
  });

  test('the whole message: a header, then one problem a line', () => {
    expect(loadError([caseDir('cycle')]).message).toBe('the module registry is invalid:\n  - dependency cycle: cyc_a -> cyc_b -> cyc_c -> cyc_a');
    expect(loadError([caseDir('missing-file')]).message).toBe(
      'the module registry is invalid:\n' +
        `  - module 'missing_files' version 0.1.0: after_install hook file 0.1.0/after_install.sql is missing (looked for ${fixture('missing-file', 'missing_files', '0.1.0', 'after_install.sql')})\n` +
        `  - module 'missing_files' version 0.2.0: migration down file 0.2.0/down.sql is missing (looked for ${fixture('missing-file', 'missing_files', '0.2.0', 'down.sql')})`,
    );
  });

  test('every problem of every folder is reported at once', () => {
    expect(sorted(problemsOf(Object.keys(CASES).map(caseDir)))).toEqual(sorted(Object.values(CASES).flat()));
  });

  test('the JavaScript copy of the cycle case (used by the CLI test below) fails for the same reason', () => {
    expect(problemsOf([caseDir('cycle-js')])).toEqual(CASES.cycle);
  });

  // A module author fixing problems one start at a time needs the real ones, all at once.
  test('a dependency on a module that exists but is invalid is not reported as unknown', () => {
    const problems = problemsOf([caseDir('invalid-dependency')]);
    expect(problems).toContain(
      `module 'dep_base' version 0.1.0: migration down file 0.1.0/down.sql is missing (looked for ${fixture('invalid-dependency', 'dep_base', '0.1.0', 'down.sql')})`,
    );
    expect(problems.filter((p) => /unknown module 'dep_base'/.test(p))).toEqual([]);
  });

  test('a table collision is reported even when one of the two modules has another problem', () => {
    expect(sorted(problemsOf([caseDir('invalid-collision')]))).toEqual(
      sorted([
        `module 'clash_base' version 0.1.0: migration down file 0.1.0/down.sql is missing (looked for ${fixture('invalid-collision', 'clash_base', '0.1.0', 'down.sql')})`,
        "table 'clash_item' is claimed by two modules: 'clash_base' and 'clash_other'",
      ]),
    );
  });

  // The engine runs module SQL with search_path = pg_catalog, pg_temp; a function that brings
  // public back would resolve a tenant's functions and operators whenever the engine writes.
  test('a module function with a search_path naming public is refused, saying what to write instead', () => {
    expect(problemsOf([caseDir('search-path')])).toEqual([
      "module 'public_path' version 0.1.0: 0.1.0/after_install.sql line 2 sets search_path to public, pg_temp: module functions must use SET search_path = pg_catalog, pg_temp and name their tables and functions with their schema (public.x), so nothing a tenant creates is resolved when the engine runs them",
    ]);
  });

  // Accepted today, the version then fails at install: iasql_tables gets the table twice (its primary key).
  test('two entities of one version claiming the same table are refused', () => {
    const problems = problemsOf([caseDir('table-twice-in-version')]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^module 'twin_tables' version 0\.1\.0: .*\btable 'twin_item'.*\bTwinFirstItem\b.*\bTwinSecondItem\b/);
  });
});

describe('ModuleRegistry.load accepts valid modules', () => {
  test('the built-in modules plus the test fixtures: every module and version', () => {
    const registry = ModuleRegistry.load([BUILTIN_MODULES_DIR, FIXTURE_MODULES]);
    expect(registry.list().map((m) => ({ name: m.name, versions: m.versions.map((v) => v.version), latest: m.latest.version }))).toEqual([
      { name: 'aws_account', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'aws_dynamo', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'aws_iam', versions: ['0.1.0', '0.2.0'], latest: '0.2.0' },
      { name: 'aws_lambda', versions: ['0.1.0', '0.2.0'], latest: '0.2.0' },
      { name: 'fixture_badhook', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'fixture_broken', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'fixture_fakecloud', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'fixture_notes', versions: ['0.1.0', '0.2.0', '0.3.0'], latest: '0.3.0' },
      { name: 'fixture_rpc', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'fixture_tagger', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'iasql_commit', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'iasql_functions', versions: ['0.1.0'], latest: '0.1.0' },
      { name: 'iasql_platform', versions: ['0.1.0'], latest: '0.1.0' },
    ]);
    expect(registry.resolve('fixture_notes', '0.3.0').tables).toEqual(['note', 'note_tag']);
    expect(registry.resolve('fixture_tagger').dependencies).toEqual(['fixture_notes']);
  });

  test('the built-in modules alone', () => {
    expect(ModuleRegistry.load([BUILTIN_MODULES_DIR]).list().map((m) => m.name)).toEqual(['aws_account', 'aws_dynamo', 'aws_iam', 'aws_lambda', 'iasql_commit', 'iasql_functions', 'iasql_platform']);
  });
});

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

const databaseExists = (name: string) =>
  withClient(serverUrl(), async (c) => (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1);

describe('the engine refuses to start on invalid modules', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-invalid-modules-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test.each(Object.keys(CASES))('startEngine with %s: the registry error, before touching home or Postgres', async (name) => {
    const home = path.join(tmp, name);
    const config: Config = {
      databaseUrl: serverUrl(),
      home,
      apiHost: '127.0.0.1',
      apiPort: 0,
      pgPort: 0,
      modulePath: [caseDir(name)],
      logLevel: 'silent',
      metadataDatabase: `meta_${uniq()}`,
      defaultDatabase: '',
    workerConcurrency: 0,
    rpcHistoryDays: 30,
    rpcHistoryMax: 10000,
    localCloud: 'memory',
    localCloudPort: 0,
    };
    const expected = loadError([caseDir(name)]).message;
    await expect(startEngine(config, createLogger('silent'))).rejects.toMatchObject({ code: 'invalid_modules', message: expected });
    expect(fs.existsSync(home)).toBe(false);
    expect(await databaseExists(config.metadataDatabase)).toBe(false);
  });

  // The compiled CLI, exactly what `npm start` runs; test/fixtures is not compiled, hence the JavaScript copy of the case.
  test('iasql start with a dependency cycle on IASQL_MODULE_PATH: exit 1, the cycle on stderr, nothing started', async () => {
    expect(fs.existsSync(CLI)).toBe(true); // npm test builds dist first
    const home = fs.mkdtempSync(path.join(tmp, 'cli-home-'));
    const apiPort = await freePort();
    const metadataDatabase = `meta_${uniq()}`;
    const env = {
      ...process.env,
      DATABASE_URL: serverUrl(),
      IASQL_HOME: home,
      IASQL_API_PORT: String(apiPort),
      IASQL_MODULE_PATH: caseDir('cycle-js'),
      IASQL_METADATA_DB: metadataDatabase,
      IASQL_ADMIN_TOKEN: '',
      LOG_LEVEL: 'info',
    };
    // Like execCli, with a time limit: were the modules accepted, `start` would run until stopped.
    const res = await promisify(execFile)(process.execPath, [CLI, 'start'], { env, timeout: 30_000, killSignal: 'SIGINT' }).then(
      ({ stdout, stderr }) => ({ code: 0 as number | null, signal: null as string | null, stdout, stderr }),
      (e: { code: number | null; signal: string | null; stdout: string; stderr: string }) => ({ code: e.code, signal: e.signal, stdout: e.stdout, stderr: e.stderr }),
    );
    expect(res).toEqual({
      code: 1,
      signal: null,
      stdout: '',
      stderr: 'iasql: the module registry is invalid:\n  - dependency cycle: cyc_a -> cyc_b -> cyc_c -> cyc_a\n',
    });
    expect(fs.existsSync(path.join(home, 'pg'))).toBe(false);
    expect(fs.readdirSync(home)).toEqual([]); // no admin token, no databases, no marker
    expect(await portOpen(apiPort)).toBe(false);
    expect(await databaseExists(metadataDatabase)).toBe(false);
  });
});

describe('module folders that are packages, and modules left as TypeScript', () => {
  const PACKAGES = path.join(__dirname, 'fixtures', 'module-packages');

  test("a package folder loads its package.json main only, not its TypeScript sources beside it", () => {
    // Before, both build/index.js and src/index.ts were loaded: "module 'fixture_pkg_shelf' is defined twice".
    const registry = ModuleRegistry.load([BUILTIN_MODULES_DIR, path.join(PACKAGES, 'pkg_shelf')]);
    const shelf = registry.get('fixture_pkg_shelf');
    expect(shelf?.dir).toBe(path.join(PACKAGES, 'pkg_shelf', 'build'));
    expect(shelf?.versions.map((v) => v.version)).toEqual(['0.1.0']);
  });

  test('a package whose main was never built is refused, saying to build it', () => {
    const manifest = path.join(PACKAGES, 'pkg_missing_main', 'package.json');
    expect(problemsOf([path.join(PACKAGES, 'pkg_missing_main')])).toEqual([
      `${manifest}: its "main" is build/index.js, which does not exist (looked for ${path.join(PACKAGES, 'pkg_missing_main', 'build', 'index.js')}): build the package first (e.g. npm run build in ${path.join(PACKAGES, 'pkg_missing_main')})`,
    ]);
  });

  // Under jest, ts-jest compiles index.ts; the compiled engine runs plain Node, which does not.
  test('plain Node meeting an index.ts says it is TypeScript the engine does not compile, and how to build it', async () => {
    const dir = path.join(__dirname, 'fixtures', 'typescript-uncompiled');
    const script = `
      const { ModuleRegistry, BUILTIN_MODULES_DIR } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'src', 'modules', 'registry'))});
      try { ModuleRegistry.load([BUILTIN_MODULES_DIR, ${JSON.stringify(dir)}]); console.log('loaded'); } catch (err) { console.log(err.message); }`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script]);
    const file = path.join(dir, 'ts_notes', 'index.ts');
    expect(stdout.trim()).toMatch(new RegExp(`^the module registry is invalid:\\n  - ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot be loaded: .+\\. It is TypeScript, which the engine does not compile: build the module to JavaScript \\(tsc with experimentalDecorators, emitDecoratorMetadata and module commonjs, its SQL files copied beside the output\\) and point IASQL_MODULE_PATH at the built folder, or give the package a package.json whose "main" is the built index.js$`));
  });
});
