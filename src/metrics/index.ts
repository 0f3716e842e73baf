export * from './hub-metrics';
