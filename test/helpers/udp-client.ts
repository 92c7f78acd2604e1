export * from '../../testkit/udp-client.js';
