import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstUnenterable } from '../src/postgres/embedded';
import { execCli } from './support/cli';
import { freePort } from './support/free-port';

// Running as root, the embedded Postgres runs as the `postgres` OS user, which must be able to
// enter every directory on the way to IASQL_HOME. Under a mode-0700 directory (what `mktemp -d`
// makes) initdb used to fail with an obscure "could not open file .pwfile-NNN".
let base: string;
beforeAll(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'iasql-home-access-')); // mode 0700
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('which directory a user cannot enter', () => {
  const nobody = { uid: 4242, groups: [4242] };

  test('a 0700 directory stops another user; 0711 lets it through; a missing tail is fine', () => {
    const closed = path.join(base, 'closed');
    fs.mkdirSync(path.join(closed, 'inner'), { recursive: true });
    fs.chmodSync(closed, 0o700);
    // The outermost closed directory is the one named.
    expect(firstUnenterable(path.join(closed, 'inner', 'home', 'not-yet'), nobody)).toEqual({ dir: base, mode: '0700', owner: process.getuid!() });
    fs.chmodSync(base, 0o711);
    expect(firstUnenterable(path.join(closed, 'inner', 'home', 'not-yet'), nobody)).toEqual({
      dir: closed,
      mode: '0700',
      owner: process.getuid!(),
    });
    fs.chmodSync(closed, 0o711);
    expect(firstUnenterable(path.join(closed, 'inner', 'home', 'not-yet'), nobody)).toBeUndefined();
    fs.chmodSync(base, 0o700);
  });

  test('group and owner bits count for members and the owner', () => {
    const groupOnly = path.join(base, 'group-only');
    fs.mkdirSync(groupOnly);
    fs.chmodSync(groupOnly, 0o710);
    const st = fs.statSync(groupOnly);
    fs.chmodSync(base, 0o711);
    expect(firstUnenterable(groupOnly, { uid: 4242, groups: [st.gid] })).toBeUndefined();
    expect(firstUnenterable(groupOnly, nobody)).toEqual({ dir: groupOnly, mode: '0710', owner: st.uid });
    expect(firstUnenterable(groupOnly, { uid: st.uid, groups: [] })).toBeUndefined();
    fs.chmodSync(base, 0o700);
  });
});

describe('iasql start with IASQL_HOME under a 0700 directory', () => {
  test(process.getuid?.() === 0 ? 'as root: exits 1 naming the directory, the user and what to do' : 'as a normal user: starts', async () => {
    const home = path.join(base, 'home');
    const env = {
      DATABASE_URL: '',
      IASQL_HOME: home,
      IASQL_API_PORT: String(await freePort()),
      IASQL_PG_PORT: String(await freePort()),
      IASQL_ADMIN_TOKEN: '',
      IASQL_DEFAULT_DATABASE: '',
    };
    if (process.getuid?.() === 0) {
      const { code, stderr } = await execCli(['start'], env);
      expect(code).toBe(1);
      expect(stderr).toContain(`runs as the OS user 'postgres'`);
      expect(stderr).toContain(`which cannot enter ${base} (mode 0700`);
      expect(stderr).toContain(`chmod o+x ${base}`);
      expect(stderr).not.toContain('.pwfile');
      // Nothing half-made was left behind: no cluster directory.
      expect(fs.existsSync(path.join(home, 'pg'))).toBe(false);
      expect(fs.existsSync(path.join(home, 'pg.init'))).toBe(false);
    } else {
      // Not root: Postgres runs as this user, who owns the directory.
      expect(firstUnenterable(home, { uid: process.getuid!(), groups: process.getgroups!() })).toBeUndefined();
    }
  });
});
