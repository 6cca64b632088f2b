import type { RequestHandler } from 'express';
import { tokenMatches } from '../admin-token';
import { errorBody } from './errors';

/** Requires `Authorization: Bearer <admin token>`. */
export function requireToken(token: string): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !tokenMatches(match[1], token)) {
      res
        .status(401)
        .set('WWW-Authenticate', 'Bearer')
        .json(
          errorBody(
            'unauthorized',
            match ? 'invalid admin token' : 'missing admin token: send the header Authorization: Bearer <token>',
          ),
        );
      return;
    }
    next();
  };
}
