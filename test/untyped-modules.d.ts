// Test-only dependencies that ship no types.
declare module 'oidc-provider';
declare module '@20minutes/s3rver';
