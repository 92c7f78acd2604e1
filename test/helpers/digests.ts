export * from '../../testkit/digests.js';
