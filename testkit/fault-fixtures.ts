// Shared pieces of the fault-injection suites: a server whose one listener carries faults, a
// count of the reads a client socket delivers, a bounded "nothing happens" window, and a
// check that a measured time lies in its band. Loopback only, port 0, every wait bounded.
import assert from 'node:assert/strict';
import type { FaultOptions } from '../src/config/faults.js';
import type { EchoServerOptions } from '../src/config/options.js';
import { type Client, Fixture, HOST } from './clients.js';

/** A server on 127.0.0.1 whose one TCP listener (port 0) has `faults`. */
export function faultyFixture(faults: FaultOptions, options: EchoServerOptions = {}): Promise<Fixture> {
  return Fixture.start({ ...options, listeners: [{ protocol: 'tcp', host: HOST, port: 0, faults }] });
}

/**
 * Node timers run on the event loop's cached clock, which may trail the real one by up to a
 * millisecond or so, and Date.now() (which the shaper reads) is whole milliseconds: a lower
 * time bound is checked with this much allowance, no more.
 */
export const TIMER_SLACK_MS = 5;

/** Asserts `elapsedMs` lies in [minMs - TIMER_SLACK_MS, maxMs), naming `what`. */
export function assertBetween(elapsedMs: number, minMs: number, maxMs: number, what: string): void {
  assert.ok(elapsedMs >= minMs - TIMER_SLACK_MS, `${what}: took ${elapsedMs.toFixed(1)} ms, expected at least ${minMs} ms`);
  assert.ok(elapsedMs < maxMs, `${what}: took ${elapsedMs.toFixed(1)} ms, expected under ${maxMs} ms`);
}

/** Counts the reads ('data' events) a client's socket delivers, next to the client's own reader. */
export class ReadCounter {
  readonly sizes: number[] = [];

  constructor(client: Client) {
    client.socket.on('data', (chunk: Buffer) => this.sizes.push(chunk.length));
  }

  get reads(): number {
    return this.sizes.length;
  }
}

/**
 * Resolves to null if, for `ms`, the client receives nothing and its connection neither ends nor
 * closes; otherwise, as soon as one of those happens, to what it was. A fault whose point is
 * that nothing happens can only be shown by a bounded window like this one.
 */
export function quietFor(client: Client, ms: number): Promise<string | null> {
  if (client.pendingBytes > 0) return Promise.resolve(`${client.pendingBytes} bytes received`);
  if (client.ended || client.closed) return Promise.resolve('the connection ended');
  const { socket } = client;
  return new Promise((resolve) => {
    const finish = (what: string | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      resolve(what);
    };
    const onData = (chunk: Buffer): void =>
      finish(`${chunk.length} bytes received: ${JSON.stringify(chunk.toString('latin1').slice(0, 40))}`);
    const onEnd = (): void => finish('EOF from the server');
    const onClose = (): void => finish(`the connection closed (${client.error?.code ?? 'no error'})`);
    const timer = setTimeout(() => finish(null), ms);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
  });
}
