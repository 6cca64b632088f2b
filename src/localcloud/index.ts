export { startLocalCloud, type LocalCloud, type LocalCloudOptions } from './server';
export { LOCAL_ACCOUNT_ID } from './dynamodb';
