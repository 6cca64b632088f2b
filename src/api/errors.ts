import type { ErrorRequestHandler, RequestHandler } from 'express';
import { IasqlError } from '../errors';
import type { Logger } from '../logger';

/** Every error answer has this shape: `{"error": {"code", "message"}}`. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export const unknownRoute: RequestHandler = (req, res) => {
  res.status(404).json(errorBody('not_found', `no route ${req.method} ${req.path}; see GET /openapi.json`));
};

/** Maps thrown errors to JSON. Unexpected errors are logged and answered without any detail. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (err instanceof IasqlError && err.status < 500) {
      res.status(err.status).json(errorBody(err.code, err.message));
      return;
    }
    // body-parser's errors carry a status and a type; their messages hold no secrets.
    if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500 && typeof err.type === 'string') {
      const message =
        err.type === 'entity.parse.failed'
          ? 'request body is not valid JSON'
          : err.type === 'entity.too.large'
            ? 'request body is too large (limit 100kb)'
            : `bad request body: ${err.type}`;
      res.status(err.status).json(errorBody('bad_request', message));
      return;
    }
    const code = err instanceof IasqlError ? err.code : 'internal_error';
    logger.error({ err: { message: err?.message, code: err?.code }, method: req.method, path: req.path }, 'request failed');
    res
      .status(500)
      .json(errorBody(code, err instanceof IasqlError ? err.message : 'internal error; the engine log has the details'));
  };
}
