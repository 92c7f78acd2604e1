export * from '../../testkit/wait.js';
