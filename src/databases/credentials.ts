import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** A fresh login password (32 url-safe characters, 192 bits). */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Fresh role names for one database: the tenant's login role (`iasql_<12 hex>`), the engine role
 * that owns the database (`..._engine`) and the role its rpc functions enqueue with (`..._queue`).
 * The database's name is the tenant's; the roles' are random.
 */
export function generateRoleNames(): { tenant: string; engine: string; queue: string } {
  const tenant = `iasql_${randomBytes(6).toString('hex')}`;
  return { tenant, engine: `${tenant}_engine`, queue: `${tenant}_queue` };
}

/**
 * The SCRAM-SHA-256 verifier of a password (RFC 5802/7677, Postgres' stored format). Roles are
 * created with `PASSWORD '<verifier>'`, so the plain password never reaches the server, its
 * logs or pg_stat_activity.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
