export * from '../../testkit/admin-http.js';
