export * from '../../testkit/prometheus.js';
