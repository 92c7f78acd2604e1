// Run as its own process by shutdown.test.ts: calls close() while listen() is still binding,
// then reports what happened as one JSON line on stdout. It ends with process.exit(), so a
// listener the server failed to close dies with this process instead of holding the test
// runner open.
import { once } from 'node:events';
import { connect } from 'node:net';
import { createEchoServer } from '../src/server/server.js';

const HOST = '127.0.0.1';
const CONNECT_WAIT_MS = 2000;

export interface RaceOutcome {
  listen: 'fulfilled' | 'rejected';
  states: string[];
  finalState: string;
  /** Whether a client could still connect to the port listen() reported, after close() resolved. */
  connectable: boolean;
}

async function connectable(port: number): Promise<boolean> {
  const socket = connect({ host: HOST, port });
  socket.on('error', () => {});
  try {
    await once(socket, 'connect', { signal: AbortSignal.timeout(CONNECT_WAIT_MS) });
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

const server = createEchoServer({ host: HOST, port: 0 });
const states: string[] = [];
server.on('state', (state) => states.push(state));
const listening = server.listen();
const closing = server.close();
const [listened] = await Promise.allSettled([listening, closing]);
const outcome: RaceOutcome = {
  listen: listened.status,
  states,
  finalState: server.state,
  connectable: listened.status === 'fulfilled' ? await connectable(listened.value.port) : false,
};
process.stdout.write(`${JSON.stringify(outcome)}\n`, () => process.exit(0));
