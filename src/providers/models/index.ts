/** Local model catalogue and fetcher. */
export * from './catalogue';
export * from './fetcher';
