import { defineModule } from '../../src/modules/define';
import { IasqlDependency, IasqlModule, IasqlRpc, IasqlTable } from './0.1.0/entities';

/** The registry of what is installed in a database. Installed in every database; read-only to tenants. */
export default defineModule({
  name: 'iasql_platform',
  description: 'Platform tables: installed modules, their dependencies, the tables they own, rpc history',
  dir: __dirname,
  versions: [{ version: '0.1.0', entities: [IasqlModule, IasqlDependency, IasqlTable, IasqlRpc], tenantAccess: 'read' }],
});
