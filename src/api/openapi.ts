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
    '/v1/modules': {
      get: {
        summary: 'Every module and version the engine can install',
        description: 'With dependencies, tables and the interface of the rpc methods of each version.',
        responses: {
          '200': {
            description: 'Modules by name',
            content: {
              'application/json': {
                schema: { type: 'object', required: ['modules'], properties: { modules: { type: 'array', items: { $ref: '#/components/schemas/Module' } } } },
              },
            },
          },
          '401': error('Missing or invalid token'),
        },
      },
    },
    '/v1/databases/{name}/modules': {
      parameters: [nameParam],
      get: {
        summary: 'Modules installed in a database, with their exact versions',
        responses: {
          '200': {
            description: 'Installed modules',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { modules: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' } } } } },
                },
              },
            },
          },
          '404': error('No such managed database'),
        },
      },
      post: {
        summary: 'Install or uninstall modules',
        description:
          'Install resolves dependencies and installs root to leaf; uninstall goes leaf to root and refuses while another installed module depends on a target. ' +
          'One transaction: on any failure the database is left exactly as it was. `name@x.y.z` pins a version.',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  install: { type: 'array', items: { type: 'string' }, minItems: 1 },
                  uninstall: { type: 'array', items: { type: 'string' }, minItems: 1 },
                },
              },
              examples: { install: { value: { install: ['fixture_notes@0.1.0'] } }, uninstall: { value: { uninstall: ['fixture_notes'] } } },
            },
          },
        },
        responses: {
          '200': { description: 'What was installed or uninstalled, with tables and record counts', content: { 'application/json': { schema: { type: 'object' } } } },
          '400': error('Bad body, unknown module or version, bootstrap module, not installed'),
          '404': error('No such managed database'),
          '409': error('Dependents block an uninstall; another version is installed'),
          '500': error('A migration or hook failed (the message names module, version, file, line and statement); nothing was changed'),
        },
      },
    },
    '/v1/databases/{name}/upgrade': {
      parameters: [nameParam],
      post: {
        summary: 'Upgrade every installed module to its latest version',
        description: 'Through each intermediate version, dependencies first, data kept in place, in one transaction.',
        responses: {
          '200': {
            description: 'Module moves made',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    upgraded: { type: 'array', items: { type: 'object', properties: { module: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } } } },
                    installed: { type: 'array', items: { type: 'object', properties: { module: { type: 'string' }, version: { type: 'string' } } } },
                  },
                },
              },
            },
          },
          '404': error('No such managed database'),
          '500': error('A migration or hook failed; the database is on its old versions'),
        },
      },
    },
    '/v1/rollouts': {
      get: {
        summary: 'The latest 100 rollouts, newest first',
        responses: {
          '200': {
            description: 'Rollouts',
            content: {
              'application/json': {
                schema: { type: 'object', properties: { rollouts: { type: 'array', items: { $ref: '#/components/schemas/Rollout' } } } },
              },
            },
          },
        },
      },
      post: {
        summary: 'Upgrade every managed database, in the background',
        description:
          'all-at-once upgrades all databases concurrently; one-at-a-time upgrades them in name order, checks each is healthy, and stops at the first failure leaving the rest untouched.',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { type: 'object', required: ['strategy'], additionalProperties: false, properties: { strategy: { type: 'string', enum: ['all-at-once', 'one-at-a-time'] } } },
            },
          },
        },
        responses: {
          '202': { description: 'Started; poll the Location', content: { 'application/json': { schema: { $ref: '#/components/schemas/Rollout' } } } },
          '400': error('Bad strategy'),
        },
      },
    },
    '/v1/rollouts/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
      get: {
        summary: 'Progress of a rollout, per database',
        responses: {
          '200': { description: 'The rollout', content: { 'application/json': { schema: { $ref: '#/components/schemas/Rollout' } } } },
          '400': error('Not a UUID'),
          '404': error('No such rollout'),
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
      Module: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          bootstrap: { type: 'boolean', description: 'Installed in every database; cannot be uninstalled' },
          latest: { type: 'string' },
          versions: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                version: { type: 'string' },
                dependencies: { type: 'array', items: { type: 'string' } },
                tables: { type: 'array', items: { type: 'string' } },
                rpc: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      name: { type: 'string' },
                      description: { type: 'string' },
                      example: { type: 'string', nullable: true },
                      args: { type: 'array', items: { type: 'object' } },
                      returns: { type: 'object' },
                    },
                  },
                },
              },
            },
          },
        },
      },
      Rollout: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          strategy: { type: 'string', enum: ['all-at-once', 'one-at-a-time'] },
          status: { type: 'string', enum: ['running', 'succeeded', 'failed', 'interrupted'] },
          createdAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: 'string', format: 'date-time', nullable: true },
          databases: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                name: { type: 'string' },
                status: { type: 'string', enum: ['pending', 'upgrading', 'upgraded', 'failed', 'skipped', 'interrupted'] },
                changes: { type: 'array', items: { type: 'string' } },
                error: { type: 'string', nullable: true },
                startedAt: { type: 'string', nullable: true },
                finishedAt: { type: 'string', nullable: true },
              },
            },
          },
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
