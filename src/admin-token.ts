import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const tokenFile = (home: string) => path.join(home, 'admin-token');

/**
 * The admin token of the REST API: IASQL_ADMIN_TOKEN when set, otherwise one generated on first
 * start and kept in <home>/admin-token with mode 0600. Returns the token and where it came from.
 */
export function resolveAdminToken(home: string, fromEnv?: string): { token: string; source: string } {
  if (fromEnv) return { token: fromEnv, source: 'IASQL_ADMIN_TOKEN' };
  const file = tokenFile(home);
  fs.mkdirSync(home, { recursive: true, mode: 0o711 });
  try {
    fs.writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  fs.chmodSync(file, 0o600);
  return { token: fs.readFileSync(file, 'utf8').trim(), source: file };
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
