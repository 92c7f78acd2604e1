export * from '../../testkit/faulty-servers.js';
