/** Test data of the chain (not built, not published): synthetic events for chain tests and bench/verify.ts. */
export { syntheticEvent } from './synthetic.ts';
