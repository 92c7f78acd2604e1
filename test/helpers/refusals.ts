export * from '../../testkit/refusals.js';
