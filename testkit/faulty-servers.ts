// Echo servers that break the rules on purpose, one fault each, for the tests of `echod check`
// and `echod bench`: a tool that passes these has not proved anything. Plus a UDP echo and a TLS
// echo (with a throwaway self-signed certificate) for the transports echod itself does not
// serve. Everything listens on 127.0.0.1, port 0.
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { LineFramer } from '../src/core/framing.js';
import { HOST } from './clients.js';

/** A running test server; `close()` destroys its connections too, and is safe to repeat. */
export interface TestServer {
  port: number;
  close(): Promise<void>;
}

export type Fault =
  /** Drops the byte at this offset of every connection's stream (a lost byte, and all after it shifted). */
  | { kind: 'drop-byte-at'; offset: number }
  /** Drops every byte of this value (a text-mode server eating NUL or CR). */
  | { kind: 'drop-byte-value'; value: number }
  /** Echoes the first two complete lines of a read in swapped order. */
  | { kind: 'reorder-lines' }
  /** Echoes after a delay, and drops everything still pending when the client half-closes. */
  | { kind: 'truncate-at-half-close' }
  /** Closes every connection this long after accepting it. */
  | { kind: 'close-after'; ms: number }
  /** Closes any connection beyond this many open at once. */
  | { kind: 'max-connections'; max: number }
  /** Treats every read on its own: a line split across reads is lost. */
  | { kind: 'no-reassembly' }
  /** Throws echoes away while this many bytes are already waiting to go out (a client not reading). */
  | { kind: 'drop-when-backlogged'; bytes: number }
  /** A correct line echo that closes the connection on a line longer than this (a policy, not a fault). */
  | { kind: 'line-limit'; bytes: number }
  /** A correct line echo (the baseline the faults depart from). */
  | { kind: 'none' };

const NEWLINE = 0x0a;
/** How long the half-close truncator holds each echo. */
const DELAY_MS = 30;

/** A line echo with `fault`. */
export async function startFaultyServer(fault: Fault): Promise<TestServer> {
  const sockets = new Set<Socket>();
  let open = 0;
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    open++;
    socket.on('close', () => {
      sockets.delete(socket);
      open--;
    });
    socket.on('error', () => socket.destroy());
    serve(socket, fault, open);
  });
  return listening(server, sockets);
}

function serve(socket: Socket, fault: Fault, open: number): void {
  if (fault.kind === 'max-connections' && open > fault.max) {
    socket.destroy();
    return;
  }
  if (fault.kind === 'close-after') {
    const timer = setTimeout(() => socket.end(), fault.ms);
    socket.on('close', () => clearTimeout(timer));
  }
  const framer = new LineFramer(fault.kind === 'line-limit' ? fault.bytes : 1 << 30);
  let offset = 0;
  socket.on('data', (chunk: Buffer) => {
    let input = chunk;
    if (fault.kind === 'drop-byte-at' && offset <= fault.offset && fault.offset < offset + chunk.length) {
      const at = fault.offset - offset;
      input = Buffer.concat([chunk.subarray(0, at), chunk.subarray(at + 1)]);
    } else if (fault.kind === 'drop-byte-value') {
      input = Buffer.from(chunk.filter((byte) => byte !== fault.value));
    }
    offset += chunk.length;
    if (fault.kind === 'no-reassembly') {
      const end = input.lastIndexOf(NEWLINE);
      if (end !== -1) socket.write(input.subarray(0, end + 1));
      return;
    }
    let out = framer.push(input);
    if (framer.overflowed) {
      socket.destroy();
      return;
    }
    if (fault.kind === 'reorder-lines') out = swapFirstTwoLines(out);
    if (out.length === 0) return;
    if (fault.kind === 'drop-when-backlogged' && socket.writableLength > fault.bytes) return;
    if (fault.kind === 'truncate-at-half-close') {
      const copy = Buffer.from(out);
      setTimeout(() => {
        if (!socket.destroyed) socket.write(copy);
      }, DELAY_MS);
      return;
    }
    socket.write(out);
  });
  socket.on('end', () => {
    if (fault.kind === 'truncate-at-half-close') {
      socket.destroy();
      return;
    }
    // Like echod: the unterminated tail too, then our FIN.
    socket.end(framer.flush());
  });
}

function swapFirstTwoLines(lines: Buffer): Buffer {
  const first = lines.indexOf(NEWLINE);
  const second = first === -1 ? -1 : lines.indexOf(NEWLINE, first + 1);
  if (second === -1) return lines;
  return Buffer.concat([lines.subarray(first + 1, second + 1), lines.subarray(0, first + 1), lines.subarray(second + 1)]);
}

async function listening(server: Server, sockets: Set<Socket>): Promise<TestServer> {
  // Every TCP connection, a TLS one whose handshake failed included, so close() can end them all.
  const raw = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    raw.add(socket);
    socket.on('close', () => raw.delete(socket));
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  let closing: Promise<void> | null = null;
  return {
    port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of [...sockets, ...raw]) socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

export type DatagramFault =
  { kind: 'none' } | { kind: 'truncate-above'; bytes: number } | { kind: 'corrupt-every'; n: number } | { kind: 'silent' };

/** A UDP echo: each datagram back to its sender, with `fault`. */
export async function startUdpEchoServer(fault: DatagramFault = { kind: 'none' }): Promise<TestServer> {
  const socket = createSocket('udp4');
  let seen = 0;
  socket.on('message', (msg, rinfo) => {
    seen++;
    let out = msg;
    if (fault.kind === 'silent') return;
    if (fault.kind === 'truncate-above' && msg.length > fault.bytes) out = msg.subarray(0, fault.bytes);
    if (fault.kind === 'corrupt-every' && seen % fault.n === 0) {
      out = Buffer.from(msg);
      out[out.length - 2] = 0x21;
    }
    socket.send(out, rinfo.port, rinfo.address);
  });
  socket.bind(0, HOST);
  await once(socket, 'listening');
  let closed = false;
  return {
    port: socket.address().port,
    close: async () => {
      if (closed) return;
      closed = true;
      socket.close();
      await once(socket, 'close');
    },
  };
}

/**
 * A throwaway self-signed certificate for `localhost`, 127.0.0.1 and ::1 (P-256, valid until
 * 2126), generated for these tests only: it protects nothing.
 */
export const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6uWaB04nvdAsufwd
w5i70hhBWviqaWTenl94hmtmTjKhRANCAATVQ9CctrDYmRD7GfboG2svv/n2kHzR
MxxUY8s4JAckdZlucDwl3wuVSySNUMWzKekf/kdyKZbaIVCd4PG0Bmkb
-----END PRIVATE KEY-----
`;

export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBrTCCAVSgAwIBAgIUZbSMOZw2aPbIKFKjeW9+jzm4m0gwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEzMDAyMzExMFoYDzIxMjYxMTA2
MDIzMTEwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATVQ9CctrDYmRD7GfboG2svv/n2kHzRMxxUY8s4JAckdZlucDwl3wuV
SySNUMWzKekf/kdyKZbaIVCd4PG0Bmkbo4GBMH8wHQYDVR0OBBYEFBTKxKpPrd7D
I7eduQKoKfizkcjCMB8GA1UdIwQYMBaAFBTKxKpPrd7DI7eduQKoKfizkcjCMA8G
A1UdEwEB/wQFMAMBAf8wLAYDVR0RBCUwI4IJbG9jYWxob3N0hwR/AAABhxAAAAAA
AAAAAAAAAAAAAAABMAoGCCqGSM49BAMCA0cAMEQCIDmewzNrt3LZBiIWE+tHCwyl
R7E0mAUYKhpxu+oaS4iUAiBFOlZuCVb2hmBrCuX9C2kpLfNy8TJOP28tVKQLEOjY
8w==
-----END CERTIFICATE-----
`;

/** A TLS line echo (a TLS terminator and echo in one), with the test certificate. */
export async function startTlsEchoServer(): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createTlsServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new LineFramer(1 << 30);
    socket.on('data', (chunk: Buffer) => {
      const out = framer.push(chunk);
      if (out.length > 0) socket.write(out);
    });
    socket.on('end', () => socket.end(framer.flush()));
  });
  return listening(server, sockets);
}
