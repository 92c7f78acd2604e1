export * from '../../testkit/clients.js';
