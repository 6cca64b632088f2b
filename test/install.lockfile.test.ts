import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

// CI systems and the Docker image install with `npm ci`, which refuses a lock file that is out of
// step with package.json. `npm ci --dry-run` checks exactly that in about a second, without
// touching node_modules.
describe('package-lock.json', () => {
  test('npm ci accepts it', () => {
    const root = path.join(__dirname, '..');
    const run = spawnSync('npm', ['ci', '--dry-run', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, npm_config_loglevel: 'error' },
      timeout: 120_000,
    });
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
