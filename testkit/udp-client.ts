// A UDP client for the echo tests: a bound datagram socket that keeps every datagram it
// receives (with its sender), so a test can wait for "the next n replies" without racing.
import { createSocket, type Socket as DgramSocket, type SocketType } from 'node:dgram';
import { once } from 'node:events';
import type { EchoServerOptions } from '../src/config/options.js';
import { createEchoServer, type EchoServer } from '../src/server/server.js';
import { HOST, WAIT_MS } from './clients.js';
import { Waiters, within } from './wait.js';

export interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

export class UdpClient {
  readonly socket: DgramSocket;
  readonly received: Datagram[] = [];
  private readonly waiters = new Waiters();

  private constructor(type: SocketType) {
    this.socket = createSocket(type);
    this.socket.on('error', () => this.waiters.notify());
    this.socket.on('message', (data, remote) => {
      this.received.push({ data, address: remote.address, port: remote.port });
      this.waiters.notify();
    });
  }

  /** A socket bound to `address`:`port` (0: any free port). Rejects with the bind error (EACCES, EADDRINUSE). */
  static async bind(address: string, port = 0): Promise<UdpClient> {
    const client = new UdpClient(address.includes(':') ? 'udp6' : 'udp4');
    const bound = once(client.socket, 'listening');
    client.socket.bind({ address, port, exclusive: true });
    try {
      await bound;
    } catch (err) {
      client.socket.close();
      throw err;
    }
    return client;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Sends one datagram; resolves once it is handed to the kernel. */
  send(data: Uint8Array, port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(data, port, address, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Waits until `n` datagrams in all have been received. */
  async replies(n: number, ms = WAIT_MS): Promise<Datagram[]> {
    await this.waiters.until(() => this.received.length >= n, ms, `${n} datagrams (have ${this.received.length})`);
    return this.received.slice(0, n);
  }

  /** Waits until `condition` holds (checked on every datagram received). */
  until(condition: () => boolean, ms: number, what: string): Promise<void> {
    return this.waiters.until(condition, ms, what);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

/**
 * One test's in-process echo server with UDP listeners, and its clients: `cleanup()` (for
 * afterEach) closes the clients, then the server. Safe to repeat.
 */
export class UdpFixture {
  server: EchoServer | undefined;
  readonly clients: UdpClient[] = [];

  /** A server with `options`, listening; resolves to it and the ports of its UDP listeners, in order. */
  async start(options: EchoServerOptions): Promise<{ server: EchoServer; ports: number[] }> {
    const server = createEchoServer(options);
    this.server = server;
    await server.listen();
    const ports = server.addresses.flatMap((address) => ('port' in address && address.protocol === 'udp' ? [address.port] : []));
    return { server, ports };
  }

  /** A client bound to `address`:`port` (0: any free port), closed at cleanup. */
  async client(address = HOST, port = 0): Promise<UdpClient> {
    const client = await UdpClient.bind(address, port);
    this.clients.push(client);
    return client;
  }

  readonly cleanup = async (): Promise<void> => {
    for (const client of this.clients.splice(0)) await client.close();
    await within(this.server?.close() ?? Promise.resolve(), WAIT_MS, 'server.close()');
    this.server = undefined;
  };
}
