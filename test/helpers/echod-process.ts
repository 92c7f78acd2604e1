export * from '../../testkit/echod-process.js';
