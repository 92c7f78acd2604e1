export * from '../../testkit/recording-logger.js';
