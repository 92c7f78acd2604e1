export * from '../../testkit/fault-fixtures.js';
