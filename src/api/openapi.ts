import { ENGINE_VERSION } from '../version';

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { $ref: '#/components/schemas/DatabaseName' },
};

/** OpenAPI 3 description of the REST admin API, served at GET /openapi.json. */
export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'iasql admin API',
    version: ENGINE_VERSION,
    description:
      'Manage the databases of an iasql engine. Every /v1 route needs `Authorization: Bearer <admin token>`; ' +
      'the token is in <IASQL_HOME>/admin-token unless IASQL_ADMIN_TOKEN is set.',
  },
  servers: [{ url: 'http://127.0.0.1:8088' }],
  security: [{ bearer: [] }],
  paths: {
    '/health': {
      get: {
        summary: 'Liveness and Postgres reachability (no token needed)',
        security: [],
        responses: {
          '200': { description: 'Engine and Postgres are up', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } },
          '503': { description: 'Postgres is unreachable', content: { 'application/json': { schema: { $ref: '#/components/schemas/Health' } } } },
        },
      },
    },
    '/openapi.json': {
      get: { summary: 'This document (no token needed)', security: [], responses: { '200': { description: 'OpenAPI 3 document' } } },
    },
    '/v1/version': {
      get: {
        summary: 'Engine, Postgres and Node versions',
        responses: {
          '200': { description: 'Versions', content: { 'application/json': { schema: { $ref: '#/components/schemas/Version' } } } },
          '401': error('Missing or invalid token'),
        },
      },
    },
    '/v1/databases': {
      get: {
        summary: 'List managed databases',
        responses: {
          '200': {
            description: 'Every managed database, by name',
            content: {
              'application/json': {
                schema: { type: 'object', required: ['databases'], properties: { databases: { type: 'array', items: { $ref: '#/components/schemas/Database' } } } },
              },
            },
          },
          '401': error('Missing or invalid token'),
        },
      },
      post: {
        summary: 'Create a managed database and its login role',
        description: 'Returns the password once; it is not stored anywhere and cannot be read again.',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { $ref: '#/components/schemas/DatabaseName' } } },
              example: { name: 'shop' },
            },
          },
        },
        responses: {
          '201': { description: 'Created', content: { 'application/json': { schema: { $ref: '#/components/schemas/CreatedDatabase' } } } },
          '400': error('Bad body or name (reserved, wrong characters, too long)'),
          '401': error('Missing or invalid token'),
          '409': error('A database of that name already exists'),
        },
      },
    },
    '/v1/databases/{name}': {
      parameters: [nameParam],
      get: {
        summary: 'One managed database',
        responses: {
          '200': { description: 'The database', content: { 'application/json': { schema: { $ref: '#/components/schemas/Database' } } } },
          '400': error('Invalid name'),
          '401': error('Missing or invalid token'),
          '404': error('No such managed database'),
        },
      },
      delete: {
        summary: 'Drop a managed database',
        description: "Ends the database's sessions, drops the database and its role, and removes the record.",
        responses: {
          '204': { description: 'Dropped' },
          '400': error('Invalid name'),
          '401': error('Missing or invalid token'),
          '404': error('No such managed database'),
          '409': error('The database is being created or dropped'),
        },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      DatabaseName: { type: 'string', pattern: '^[a-z][a-z0-9_]*$', maxLength: 63, example: 'shop' },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string', example: 'bad_request' }, message: { type: 'string' } },
          },
        },
      },
      Health: { type: 'object', properties: { status: { type: 'string' }, postgres: { type: 'string' } } },
      Version: {
        type: 'object',
        required: ['version', 'postgres', 'node'],
        properties: { version: { type: 'string' }, postgres: { type: 'string' }, node: { type: 'string' } },
      },
      Database: {
        type: 'object',
        required: ['name', 'user', 'status', 'engineVersion', 'createdAt'],
        properties: {
          name: { type: 'string' },
          user: { type: 'string', description: 'The login role that owns the database' },
          status: { type: 'string', enum: ['creating', 'ready', 'dropping'] },
          engineVersion: { type: 'string' },
          createdAt: { type: 'string', format: 'date-time' },
        },
      },
      CreatedDatabase: {
        type: 'object',
        required: ['name', 'user', 'password', 'connectionString'],
        properties: {
          name: { type: 'string' },
          user: { type: 'string' },
          password: { type: 'string', description: 'Shown once' },
          connectionString: { type: 'string', example: 'postgres://iasql_0a1b2c3d4e5f:...@127.0.0.1:5433/shop' },
        },
      },
    },
  },
} as const;
