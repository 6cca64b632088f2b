import pino from 'pino';

/**
 * The one logger. Fields that may carry secrets are redacted wherever they appear, as a second
 * line of defence: code should not put secrets into log calls in the first place.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): pino.Logger {
  return pino(
    {
      level,
      base: { service: 'iasql' },
      redact: {
        paths: [
          'password',
          '*.password',
          'token',
          '*.token',
          'connectionString',
          '*.connectionString',
          'authorization',
          '*.authorization',
          'headers.authorization',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination(2),
  );
}

export type Logger = pino.Logger;
