// Public surface of the engine package.
export { loadConfig, type Config } from './config';
export { startEngine, type Engine } from './engine';
export { createLogger, type Logger } from './logger';
export { IasqlError } from './errors';
export { ENGINE_VERSION } from './version';
export { defineModule } from './modules/define';
export type { ModuleDefinition, ModuleVersion, RpcMethod, RpcArgument, RpcReturns, RpcContext, RpcType } from './modules/define';
export { RpcError, RPC_SQLSTATE } from './rpc/errors';
export type { CloudEntity, CloudContext, Row, PlanRow } from './commit/types';
