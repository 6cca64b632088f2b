/**
 * The one error family of the engine. `code` is stable and machine-readable; `status` is the
 * HTTP status the REST API answers with; `message` is for people and never holds a secret.
 */
export class IasqlError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 500,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IasqlError';
  }
}

export class ConfigError extends IasqlError {
  constructor(message: string) {
    super('invalid_configuration', message, 500);
    this.name = 'ConfigError';
  }
}

export const badRequest = (message: string) => new IasqlError('bad_request', message, 400);
export const notFound = (message: string) => new IasqlError('not_found', message, 404);
export const conflict = (message: string) => new IasqlError('conflict', message, 409);

/** Postgres SQLSTATEs the engine reacts to. */
export const PG = {
  uniqueViolation: '23505',
  duplicateDatabase: '42P04',
  duplicateObject: '42710',
  invalidCatalogName: '3D000',
  insufficientPrivilege: '42501',
} as const;

export function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
