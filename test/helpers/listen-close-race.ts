export * from '../../testkit/listen-close-race.js';
