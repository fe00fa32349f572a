/**
 * Types for the test programs (test/tsconfig.json). Node's fetch types `Response.json()` as
 * `Promise<unknown>` (the DOM's says `any`): the tests read JSON of shapes they assert on.
 */
declare global {
  interface Response {
    json(): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
}
export {};
