export * from '../../testkit/certs.js';
