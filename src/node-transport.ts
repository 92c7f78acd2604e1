/**
 * The node:net transport: a listener and its connections.
 *
 * Handlers are defined once at module level and find their connection through the socket
 * (no closures per connection: memory per held connection is a target). Every socket has an
 * 'error' listener from its first moment, and nothing one connection does can throw into
 * another or into the process.
 */
import { once } from 'node:events';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { Connection, type ConnectionContext } from './connection.js';
import type { Framer } from './framing.js';
import type { Logger } from './log.js';
import type { Acceptor, Listener, ListenSpec } from './transport.js';

const kConnection = Symbol('echod.connection');
type ConnectionSocket = Socket & { [kConnection]?: NodeConnection };

export class NodeConnection extends Connection {
  readonly socket: Socket;

  constructor(id: number, socket: Socket, framer: Framer, context: ConnectionContext) {
    super(id, socket.remoteAddress ?? '', socket.remotePort ?? 0, framer, context);
    this.socket = socket;
    (socket as ConnectionSocket)[kConnection] = this;
    socket.on('data', context.logMessages ? onDataLogged : onData);
    socket.on('end', onEnd);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  }

  get bytesReceived(): number {
    return this.socket.bytesRead;
  }

  get bytesSent(): number {
    return this.socket.bytesWritten;
  }

  protected write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  protected pauseReading(): void {
    this.socket.pause();
  }

  protected resumeReading(): void {
    this.socket.resume();
  }

  protected finish(): void {
    const socket = this.socket;
    // Keep reading (and discarding) so the peer's FIN is seen and the kernel never has
    // unread data to answer with a reset that could cost the peer its last echoes.
    socket.removeAllListeners('data');
    socket.on('data', discard);
    socket.end();
    socket.resume();
  }

  protected echoBuffered(): void {
    const socket = this.socket;
    // read() hands the buffered bytes to the 'data' listener, i.e. to echo().
    while (!socket.destroyed && socket.readableLength > 0 && socket.read() !== null);
  }

  protected destroyTransport(): void {
    this.socket.destroy();
  }

  protected get transportDestroyed(): boolean {
    return this.socket.destroyed;
  }
}

function connectionOf(socket: Socket): NodeConnection {
  return (socket as ConnectionSocket)[kConnection] as NodeConnection;
}

function onData(this: Socket, chunk: Buffer): void {
  const connection = connectionOf(this);
  try {
    connection.echo(chunk);
  } catch (err) {
    connection.fail(err);
  }
}

function onDataLogged(this: Socket, chunk: Buffer): void {
  const connection = connectionOf(this);
  try {
    connection.echoLogged(chunk);
  } catch (err) {
    connection.fail(err);
  }
}

function discard(): void {}

function onEnd(this: Socket): void {
  const connection = connectionOf(this);
  try {
    connection.onEnded();
  } catch (err) {
    connection.fail(err);
  }
}

function onDrain(this: Socket): void {
  const connection = connectionOf(this);
  try {
    connection.onDrained();
  } catch (err) {
    connection.fail(err);
  }
}

function onClose(this: Socket): void {
  const connection = connectionOf(this);
  try {
    connection.onClosed();
  } catch (err) {
    connection.context.onInternalError(connection, err);
  }
}

/** Every accepted socket's first listener: an error is recorded on its connection, if any, and goes no further. */
function onSocketError(this: Socket, err: NodeJS.ErrnoException): void {
  (this as ConnectionSocket)[kConnection]?.onErrored(err.code ?? 'UNKNOWN');
}

/** A node:net TCP listener. */
export async function listenNode(spec: ListenSpec, acceptor: Acceptor, logger: Logger): Promise<Listener> {
  const server: Server = createServer({ allowHalfOpen: true, noDelay: spec.noDelay });
  server.on('connection', (socket: Socket) => {
    socket.on('error', onSocketError);
    const remoteAddress = socket.remoteAddress ?? '';
    const admitted = acceptor.admit(remoteAddress, socket.remotePort ?? 0);
    if (admitted === null) {
      socket.destroy();
      return;
    }
    acceptor.register(new NodeConnection(admitted.id, socket, admitted.framer, admitted.context));
  });
  const listening = once(server, 'listening');
  server.listen({ host: spec.host, port: spec.port, backlog: spec.backlog });
  await listening; // rejects with the bind error (EADDRINUSE, EACCES…)
  server.on('error', (err) => logger.error({ err }, 'listener error'));
  return {
    address: () => server.address() as AddressInfo,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
