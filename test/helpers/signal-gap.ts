export * from '../../testkit/signal-gap.js';
