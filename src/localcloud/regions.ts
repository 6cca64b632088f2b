/**
 * The regions of AWS's commercial partition (`aws`), as the AWS SDK's partition data lists them
 * (@aws-sdk/core 3.981, checked 2026-12), without the pseudo-region `aws-global`. The local cloud
 * serves these names only: each account and region gets its own DynamoDB store, so a made-up
 * region must not start one (thousands of them once exhausted the engine's file descriptors).
 * China, GovCloud, ISO and the European Sovereign Cloud are other partitions, with other ARNs.
 */
export const AWS_REGIONS: readonly string[] = [
  'us-east-1', 'us-east-2', 'us-west-1', 'us-west-2',
  'af-south-1',
  'ap-east-1', 'ap-east-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2',
  'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7',
  'ca-central-1', 'ca-west-1',
  'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3',
  'il-central-1', 'me-central-1', 'me-south-1', 'me-west-1',
  'mx-central-1', 'sa-east-1', 'sa-west-1',
];

const known = new Set(AWS_REGIONS);

export const isAwsRegion = (name: string): boolean => known.has(name);
