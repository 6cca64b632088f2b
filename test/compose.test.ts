import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

// No Docker engine runs where these tests run: they check the files' contents statically.
const root = path.resolve(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

// ---------- docker-compose.yml helpers ----------

type Env = Record<string, string | undefined>;

/** Compose variable interpolation for the forms used here: ${VAR}, ${VAR:-default}, ${VAR-default}, $$. */
function interpolate(value: string, env: Env): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}/g, (match, name, colon, dflt) => {
    if (match === '$$') return '$';
    const v = env[name];
    if (dflt === undefined) return v ?? '';
    if (colon === ':') return v ? v : dflt;
    return v ?? dflt;
  });
}

/** A service's environment as a map, whether written as a map or as a KEY=VALUE list. */
function environmentOf(service: Record<string, unknown>): Record<string, string | null> {
  const env = service.environment;
  if (env === undefined) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry: string) => {
        const i = entry.indexOf('=');
        return i < 0 ? [entry, null] : [entry.slice(0, i), entry.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, v === null ? null : String(v)]));
}

interface Port {
  hostIp?: string;
  published?: string;
  target: string;
}
/** Short ("127.0.0.1:8088:8088", "8088:8088", "8088") and long port syntax, normalised. */
function portsOf(service: Record<string, unknown>): Port[] {
  return ((service.ports as unknown[]) ?? []).map((p) => {
    if (typeof p === 'object' && p !== null) {
      const l = p as Record<string, unknown>;
      return { hostIp: l.host_ip as string | undefined, published: l.published?.toString(), target: String(l.target) };
    }
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    if (parts.length === 3) return { hostIp: parts[0], published: parts[1], target: parts[2] };
    if (parts.length === 2) return { published: parts[0], target: parts[1] };
    return { target: parts[0] };
  });
}

/** Named volumes mounted by a service, as { volume name: mount path }. */
function namedVolumesOf(service: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of (service.volumes as unknown[]) ?? []) {
    if (typeof v === 'string') {
      const [source, target] = v.split(':');
      if (target && !source.startsWith('.') && !source.startsWith('/') && !source.startsWith('~')) out[source] = target;
    } else if (typeof v === 'object' && v !== null && (v as Record<string, unknown>).type === 'volume') {
      const l = v as Record<string, string>;
      out[l.source] = l.target;
    }
  }
  return out;
}

// ---------- Dockerfile helpers ----------

interface Instruction {
  keyword: string;
  args: string;
}
/** Instructions in order: comments dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.trimEnd();
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());
  return logical.map((l) => {
    const m = /^(\S+)\s*(.*)$/s.exec(l)!;
    return { keyword: m[1].toUpperCase(), args: m[2].trim() };
  });
}

/** Stages, each starting with its FROM instruction. */
function stagesOf(instructions: Instruction[]): Instruction[][] {
  const stages: Instruction[][] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') stages.push([]);
    stages[stages.length - 1]?.push(ins);
  }
  return stages;
}

/** ENV lines of a stage as a map ("ENV A=1 B=2" and the legacy "ENV A 1" form). */
function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.filter((i) => i.keyword === 'ENV')) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
      const [name, ...rest] = args.split(/\s+/);
      env[name] = rest.join(' ');
      continue;
    }
    for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|(\S*))/g)) {
      env[m[1]] = m[3] ?? m[4] ?? m[5];
    }
  }
  return env;
}

// ---------- what the engine documents ----------

/** Keys of `envSchema` in src/config.ts: the environment variables the engine reads. */
function documentedEnvNames(): string[] {
  const source = read('src/config.ts');
  const start = source.indexOf('const envSchema = z.object({');
  expect(start).toBeGreaterThanOrEqual(0);
  const end = source.indexOf('\n});', start);
  expect(end).toBeGreaterThan(start);
  return source
    .slice(start, end)
    .split('\n')
    .map((line) => /^\s+([A-Z_]+):/.exec(line)?.[1])
    .filter((n): n is string => !!n);
}

// ---------- the files ----------

const composeText = read('docker-compose.yml');
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed YAML document
const compose: any = parse(composeText);
const services = (compose?.services ?? {}) as Record<string, Record<string, unknown>>;
const postgres = services.postgres ?? {};
const engine = services.engine ?? {};
const engineEnv = environmentOf(engine);

const dockerfile = parseDockerfile(read('Dockerfile'));
const stages = stagesOf(dockerfile);
const finalStage = stages[stages.length - 1] ?? [];
const finalEnv = envOf(finalStage);

describe('src/config.ts envSchema parsing (the list the other checks compare against)', () => {
  test('finds the variables the compose file and Dockerfile rely on', () => {
    const names = documentedEnvNames();
    expect(names).toEqual(
      expect.arrayContaining(['DATABASE_URL', 'IASQL_HOME', 'IASQL_API_HOST', 'IASQL_API_PORT', 'IASQL_ADMIN_TOKEN', 'LOG_LEVEL']),
    );
    expect(names.every((n) => /^[A-Z_]+$/.test(n))).toBe(true);
  });
});

describe('docker-compose.yml', () => {
  test('parses as YAML with exactly the services postgres and engine', () => {
    expect(compose).toEqual(expect.any(Object));
    expect(Object.keys(services).sort()).toEqual(['engine', 'postgres']);
  });

  describe('service postgres', () => {
    test('uses the official postgres image, major version 14 or later (dblink ships in contrib)', () => {
      const image = String(postgres.image);
      expect(image).toMatch(/^postgres:\d+/);
      expect(Number(/^postgres:(\d+)/.exec(image)![1])).toBeGreaterThanOrEqual(14);
    });

    test('takes POSTGRES_PASSWORD from the environment, with a non-empty default', () => {
      const pw = environmentOf(postgres).POSTGRES_PASSWORD;
      expect(pw).toMatch(/^\$\{POSTGRES_PASSWORD:-[^}]+\}$/);
      expect(interpolate(pw!, {})).not.toBe('');
      expect(interpolate(pw!, { POSTGRES_PASSWORD: 'from-env' })).toBe('from-env');
    });

    test('has a pg_isready healthcheck', () => {
      const hc = postgres.healthcheck as Record<string, unknown>;
      expect(hc).toBeDefined();
      const cmd = Array.isArray(hc.test) ? hc.test.join(' ') : String(hc.test);
      expect(cmd).toContain('pg_isready');
    });

    test('keeps its data in a declared named volume', () => {
      const vols = namedVolumesOf(postgres);
      const name = Object.keys(vols).find((v) => vols[v] === '/var/lib/postgresql/data');
      expect(name).toBeDefined();
      expect(Object.keys(compose.volumes ?? {})).toContain(name);
    });

    test('publishes 5432 on 127.0.0.1 only, for clients outside the compose network', () => {
      expect(portsOf(postgres)).toContainEqual({ hostIp: '127.0.0.1', published: '5432', target: '5432' });
      expect(portsOf(postgres).every((p) => p.hostIp === '127.0.0.1')).toBe(true);
      expect(composeText).toMatch(/localhost/);
    });
  });

  describe('service engine', () => {
    test('is built from the repository root (build context ".")', () => {
      const build = engine.build as string | { context?: string };
      expect(typeof build === 'string' ? build : build?.context).toBe('.');
    });

    test('starts only after postgres is healthy', () => {
      expect(engine.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    });

    test.each([
      ['the defaults', {}],
      ['POSTGRES_PASSWORD set', { POSTGRES_PASSWORD: 'S3cret-pass' }],
    ])('DATABASE_URL reaches postgres:5432 as postgres with the postgres service password (%s)', (_label, env: Env) => {
      const raw = engineEnv.DATABASE_URL;
      expect(raw).toEqual(expect.any(String));
      const url = new URL(interpolate(raw!, env));
      expect(url.protocol).toBe('postgres:');
      expect(url.hostname).toBe('postgres');
      expect(url.port).toBe('5432');
      expect(url.username).toBe('postgres');
      expect(url.pathname).toBe('/postgres');
      const expectedPassword = interpolate(environmentOf(postgres).POSTGRES_PASSWORD!, env);
      expect(decodeURIComponent(url.password)).toBe(expectedPassword);
      if (env.POSTGRES_PASSWORD) expect(url.password).toBe(env.POSTGRES_PASSWORD);
    });

    test('passes IASQL_ADMIN_TOKEN through from the environment and leaves it empty (= unset) otherwise', () => {
      expect(Object.keys(engineEnv)).toContain('IASQL_ADMIN_TOKEN');
      const raw = engineEnv.IASQL_ADMIN_TOKEN;
      if (raw === null) return; // bare key: compose passes the host's value or leaves it unset
      expect(interpolate(raw, { IASQL_ADMIN_TOKEN: 'a-token-of-sixteen+' })).toBe('a-token-of-sixteen+');
      expect(interpolate(raw, {})).toBe('');
    });

    test('sets only environment variables the engine documents in src/config.ts', () => {
      const documented = documentedEnvNames();
      const names = Object.keys(engineEnv);
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((n) => !documented.includes(n))).toEqual([]);
    });

    test('publishes the API port 8088 on 127.0.0.1', () => {
      expect(portsOf(engine)).toContainEqual({ hostIp: '127.0.0.1', published: '8088', target: '8088' });
      // The container listens on IASQL_API_PORT (default 8088): the published target must match.
      const apiPort = engineEnv.IASQL_API_PORT ? interpolate(engineEnv.IASQL_API_PORT, {}) : '8088';
      expect(apiPort).toBe('8088');
    });

    test('keeps IASQL_HOME (/var/lib/iasql, set by the Dockerfile) in a declared named volume', () => {
      expect(engineEnv.IASQL_HOME ?? finalEnv.IASQL_HOME).toBe('/var/lib/iasql');
      const vols = namedVolumesOf(engine);
      const name = Object.keys(vols).find((v) => vols[v] === '/var/lib/iasql');
      expect(name).toBeDefined();
      expect(Object.keys(compose.volumes ?? {})).toContain(name);
    });
  });
});

describe('Dockerfile', () => {
  test('is multi-stage, every stage based on node:24-bookworm-slim (the Node the suite is tested on)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0].args.split(/\s+/)[0]).toBe('node:24-bookworm-slim');
  });

  test("its Node is one package.json's engines accepts", () => {
    const engines = JSON.parse(read('package.json')).engines.node as string;
    expect(engines).toBe('>=22.18');
    const major = Number(/^node:(\d+)-/.exec(stages[stages.length - 1][0].args)![1]);
    expect(major).toBeGreaterThanOrEqual(22);
  });

  test('a build stage runs npm ci and npm run build', () => {
    const build = stages.slice(0, -1).find((s) => s.some((i) => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args)));
    expect(build).toBeDefined();
    const runs = build!.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r))).toBe(true);
  });

  describe('final (runtime) stage', () => {
    const runs = finalStage.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    const copies = finalStage.filter((i) => i.keyword === 'COPY').map((i) => i.args);

    test('installs production dependencies only and never builds', () => {
      expect(runs.some((r) => /\bnpm ci\b[^&;]*--omit=dev/.test(r))).toBe(true);
      expect(runs.some((r) => /\bnpm run build\b|\btsc\b/.test(r))).toBe(false);
    });

    test('copies dist/ from the build stage, and sql/ and package.json', () => {
      const buildName = /\bAS\s+(\S+)/i.exec(stages[0][0].args)?.[1];
      expect(copies).toContainEqual(expect.stringMatching(new RegExp(`^--from=${buildName}\\s+\\S*dist/?\\s+\\S*dist/?$`)));
      expect(copies).toContainEqual(expect.stringMatching(/^(--\S+\s+)*\S*sql\/?\s+\S*sql\/?$/));
      expect(copies).toContainEqual(expect.stringMatching(/^(--\S+\s+)*(\S+\s+)*package\.json\s+(\S+\s+)*\S+$/));
    });

    test('runs `node dist/src/cli.js start`, the package bin', () => {
      const cmds = finalStage.filter((i) => i.keyword === 'CMD');
      expect(cmds).toHaveLength(1);
      expect(JSON.parse(cmds[0].args)).toEqual(['node', 'dist/src/cli.js', 'start']);
      expect(JSON.parse(read('package.json')).bin.iasql).toBe('dist/src/cli.js');
      expect(fs.existsSync(path.join(root, 'src/cli.ts'))).toBe(true);
    });

    test('sets IASQL_API_HOST=0.0.0.0 and IASQL_HOME=/var/lib/iasql, declared as a volume', () => {
      expect(finalEnv.IASQL_API_HOST).toBe('0.0.0.0');
      expect(finalEnv.IASQL_HOME).toBe('/var/lib/iasql');
      const volumes = finalStage.filter((i) => i.keyword === 'VOLUME').map((i) => i.args);
      expect(volumes.some((v) => v === '/var/lib/iasql' || v.includes('"/var/lib/iasql"'))).toBe(true);
    });

    test('sets only engine variables the engine documents (besides NODE_ENV)', () => {
      const documented = documentedEnvNames();
      const names = Object.keys(finalEnv).filter((n) => n !== 'NODE_ENV');
      expect(names.filter((n) => !documented.includes(n))).toEqual([]);
    });

    test('exposes 8088', () => {
      const exposed = finalStage.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
      expect(exposed.map((p) => p.replace(/\/tcp$/, ''))).toContain('8088');
    });

    test('runs as the non-root user node (a USER line after the last RUN)', () => {
      const userIdx = finalStage.map((i) => i.keyword).lastIndexOf('USER');
      expect(userIdx).toBeGreaterThan(0);
      const user = finalStage[userIdx].args.split(':')[0];
      expect(user).toBe('node');
      expect(['root', '0']).not.toContain(user);
      expect(finalStage.map((i) => i.keyword).lastIndexOf('RUN')).toBeLessThan(userIdx);
    });
  });
});

describe('.dockerignore', () => {
  test('keeps host node_modules, dist and local engine state out of the build context', () => {
    const entries = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim().replace(/^\/|\/$/g, ''))
      .filter((l) => l && !l.startsWith('#'));
    expect(entries).toEqual(expect.arrayContaining(['node_modules', 'dist', '.iasql', '.git']));
    expect(entries).not.toContain('sql');
    expect(entries).not.toContain('src');
  });
});
