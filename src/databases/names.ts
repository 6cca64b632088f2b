import { badRequest } from '../errors';

export const DATABASE_NAME = /^[a-z][a-z0-9_]*$/;
export const NAME_RULE =
  'a database name starts with a lowercase letter, has only lowercase letters, digits and underscores, and is at most 63 characters';

/** Names a tenant may not take: the server's own databases and the engine's. */
export function reservedNames(metadataDatabase: string): Set<string> {
  return new Set(['postgres', 'template0', 'template1', metadataDatabase]);
}

/** Throws a 400 IasqlError unless `name` is a valid, unreserved database name. */
export function checkDatabaseName(name: unknown, reserved: Set<string>): string {
  if (typeof name !== 'string' || name.length === 0) throw badRequest(`name is required: ${NAME_RULE}`);
  if (name.length > 63 || !DATABASE_NAME.test(name)) throw badRequest(`invalid name '${name.slice(0, 80)}': ${NAME_RULE}`);
  if (reserved.has(name)) throw badRequest(`'${name}' is reserved; choose another name`);
  return name;
}
