export * from './broker-types';
export * from './broker-topic';
export * from './broker-acl';
export * from './broker-auth';
export * from './broker-embedded';
export * from './broker-external';
