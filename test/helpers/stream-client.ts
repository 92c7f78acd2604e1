export * from '../../testkit/stream-client.js';
