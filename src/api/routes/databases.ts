import { z } from 'zod';
import { error, route } from '../route';
import { CreatedDatabase, Database, DatabaseName, NewPassword } from '../schemas';

const nameParam = z.object({ name: DatabaseName });

export const databaseRoutes = [
  route({
    method: 'post',
    path: '/v1/databases',
    operationId: 'createDatabase',
    summary: 'Create a managed database and its login role',
    description: 'Returns the password once; it is not stored anywhere and cannot be read again.',
    body: z.strictObject({ name: DatabaseName }).meta({ example: { name: 'shop' } }),
    responses: {
      201: { description: 'Created', body: CreatedDatabase },
      400: error('Bad body or name (reserved, wrong characters, too long)'),
      409: error('A database of that name already exists (managed, or unmanaged on the server)'),
    },
    handler: async ({ body, deps }, reply) => reply(201, await deps.databases.create(body.name)),
  }),
  route({
    method: 'get',
    path: '/v1/databases',
    operationId: 'listDatabases',
    summary: 'List managed databases',
    responses: { 200: { description: 'Every managed database, by name', body: z.object({ databases: z.array(Database) }) } },
    handler: async ({ deps }, reply) => reply(200, { databases: await deps.databases.list() }),
  }),
  route({
    method: 'get',
    path: '/v1/databases/{name}',
    operationId: 'getDatabase',
    summary: 'One managed database',
    params: nameParam,
    responses: {
      200: { description: 'The database', body: Database },
      400: error('Invalid name'),
      404: error('No such managed database'),
    },
    handler: async ({ params, deps }, reply) => reply(200, await deps.databases.get(params.name)),
  }),
  route({
    method: 'post',
    path: '/v1/databases/{name}/password',
    operationId: 'rotateDatabasePassword',
    summary: "Give the database's tenant role a new password",
    description:
      'Returns the new password and connection string once (only its SCRAM verifier is kept). Sessions already connected keep working; new ones need the new password. `iasql db password NAME` calls this.',
    params: nameParam,
    responses: {
      200: { description: 'The new password', body: NewPassword },
      400: error('Invalid name'),
      404: error('No such managed database'),
      409: error('The database is being created or dropped'),
    },
    handler: async ({ params, deps }, reply) => reply(200, await deps.databases.rotatePassword(params.name)),
  }),
  route({
    method: 'delete',
    path: '/v1/databases/{name}',
    operationId: 'dropDatabase',
    summary: 'Drop a managed database',
    description: "Ends the database's sessions, drops the database and its role, and removes the record.",
    params: nameParam,
    responses: {
      204: { description: 'Dropped' },
      400: error('Invalid name'),
      404: error('No such managed database'),
      409: error('The database is being created or dropped'),
    },
    handler: async ({ params, deps }, reply) => {
      await deps.databases.drop(params.name);
      return reply(204, undefined);
    },
  }),
];
