export * from '../../testkit/proxy-headers.js';
