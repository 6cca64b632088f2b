// Metadata database migrations, oldest first. `npm run migration:generate -- migrations/<name>`
// writes a new file; add its class here.
import { ManagedDatabase1763700000000 } from './1763700000000-managed-database';
import { Rollout1763800000000 } from './1763800000000-rollout';
import { RpcCall1763900000000 } from './1763900000000-rpc-call';
import { RpcProgress1764000000000 } from './1764000000000-rpc-progress';
import { DatabaseRoles1764100000000 } from './1764100000000-database-roles';
import { RpcParked1764200000000 } from './1764200000000-rpc-parked';

export const migrations = [ManagedDatabase1763700000000, Rollout1763800000000, RpcCall1763900000000, RpcProgress1764000000000, DatabaseRoles1764100000000, RpcParked1764200000000];
