export { startLocalCloud, type LocalCloud, type LocalCloudOptions } from './server';
export type { LocalAccount, LocalAccounts } from './accounts';
export { AWS_REGIONS } from './regions';
export type { Fault, FaultError, FaultRequest, LocalFaults } from './faults';
