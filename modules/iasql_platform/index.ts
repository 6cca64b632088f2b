import { defineModule } from '../../src/modules/define';

/**
 * The registry of what is installed in a database. Its tables (iasql_module, iasql_dependencies,
 * iasql_tables, iasql_rpc) are the engine's own, made by the engine's SQL in the schema
 * iasql_engine (read-only to tenants, found by their plain names); this bootstrap module stays so
 * that the other bootstrap modules have something to depend on and listings show the platform.
 */
export default defineModule({
  name: 'iasql_platform',
  description: 'Platform: installed modules, their dependencies, the tables they own, rpc history (engine tables in iasql_engine)',
  dir: __dirname,
  versions: [{ version: '0.1.0', tenantAccess: 'read' }],
});
