// src/server/bind-error.ts: one line per bind failure naming the listener, the cause and a
// hint, for errors shaped as Node and Bun raise them; and the clashes seen before binding.
// (The real binary's failures are in startup-errors.test.ts; EACCES for a low port cannot be
// provoked there when the tests run as root, so it is checked here.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindConflict, bindError, type BindTarget } from '../../src/server/bind-error.js';

const tcp: BindTarget = { label: 'tcp://0.0.0.0:80', kind: 'stream', host: '0.0.0.0', port: 80 };
const udp: BindTarget = { label: 'udp://0.0.0.0:80', kind: 'datagram', host: '0.0.0.0', port: 80 };
const errno = (code: string, fields: Record<string, unknown>): Error => Object.assign(new Error(code), { code, ...fields });

describe('bindError', () => {
  it('EACCES on a port below 1024 names the port and the capability', () => {
    const err = bindError(errno('EACCES', { syscall: 'listen', address: '0.0.0.0', port: 80 }), [tcp, udp]);
    assert.equal(err.code, 'ERR_ECHOD_BIND');
    assert.match(err.message, /^cannot listen on tcp:\/\/0\.0\.0\.0:80: port 80 is below 1024 .*CAP_NET_BIND_SERVICE/);
    assert.ok(!err.message.includes('\n'));
  });

  it('a udp bind error (syscall bind) is the udp listener of the same port', () => {
    const err = bindError(errno('EADDRINUSE', { syscall: 'bind', address: '0.0.0.0', port: 80 }), [tcp, udp]);
    assert.match(err.message, /^cannot listen on udp:\/\/0\.0\.0\.0:80: 0\.0\.0\.0:80 is in use by another process/);
  });

  it('EEXIST on a unix path (something that is not a socket is there) says it is left untouched', () => {
    const unix: BindTarget = { label: 'unix:///run/echod/echod.sock', kind: 'stream', path: '/run/echod/echod.sock' };
    const err = bindError(errno('EEXIST', { syscall: 'listen', address: '/run/echod/echod.sock' }), [tcp, unix]);
    assert.equal(err.code, 'ERR_ECHOD_BIND');
    assert.equal(
      err.message,
      'cannot listen on unix:///run/echod/echod.sock: /run/echod/echod.sock exists and is not a socket; echod leaves it untouched (remove it, or choose another path)',
    );
  });

  it('Bun\'s shape (message "Failed to listen at …", code, address, port) maps the same', () => {
    const err = bindError(
      Object.assign(new Error('Failed to listen at 127.0.0.1'), { code: 'EADDRNOTAVAIL', syscall: 'listen', address: '10.9.9.9', port: 7 }),
      [{ label: 'tcp://10.9.9.9:7', kind: 'stream', host: '10.9.9.9', port: 7 }],
    );
    assert.equal(
      err.message,
      'cannot listen on tcp://10.9.9.9:7: 10.9.9.9 is not an address of this host (use one of its addresses, or 0.0.0.0 / :: for all of them)',
    );
  });
});

describe('bindConflict', () => {
  it('tcp and tls on one port clash; tcp and udp do not; port 0 never does', () => {
    const tls: BindTarget = { label: 'tls://127.0.0.1:80', kind: 'stream', host: '127.0.0.1', port: 80 };
    assert.match(bindConflict([tcp, udp, tls])?.message ?? '', /tcp:\/\/0\.0\.0\.0:80 and tls:\/\/127\.0\.0\.1:80 both bind TCP port 80/);
    assert.equal(bindConflict([tcp, udp]), null);
    const zero = (label: string): BindTarget => ({ label, kind: 'stream', host: '127.0.0.1', port: 0 });
    assert.equal(bindConflict([zero('a'), zero('b')]), null);
    assert.equal(
      bindConflict([
        { ...tcp, host: '127.0.0.1' },
        { ...tcp, label: 'other', host: '::1' },
      ]),
      null,
      'different families, no wildcard',
    );
  });

  it('two listeners on one socket file clash, and the message asks for another path', () => {
    const unix: BindTarget = { label: 'unix:///run/e.sock', kind: 'stream', path: '/run/e.sock' };
    const http: BindTarget = { label: 'http+unix:///run/e.sock', kind: 'stream', path: '/run/e.sock' };
    assert.equal(
      bindConflict([unix, http])?.message,
      'unix:///run/e.sock and http+unix:///run/e.sock both bind /run/e.sock (give each its own path)',
    );
    assert.equal(bindConflict([unix, { ...http, path: '/run/other.sock' }]), null);
  });
});

describe('bindError on an inherited socket (systemd socket activation)', () => {
  const fd3: BindTarget = { label: 'fd 3 from systemd', kind: 'stream', fd: 3 };
  const fd4: BindTarget = { label: 'fd 4 from systemd', kind: 'stream', fd: 4 };

  it('EINVAL (not a listening stream socket) names the fd the error carries and what to change, as a configuration error', () => {
    // fd 40: not open here, so not found a datagram socket: the message names both causes.
    const err = bindError(errno('EINVAL', { syscall: 'listen', address: null, fd: 40 }), [
      fd3,
      { ...fd4, label: 'fd 40 from systemd', fd: 40 },
    ]);
    assert.equal(err.target, 'fd 40 from systemd');
    assert.equal(
      err.message,
      'cannot listen on fd 40 from systemd: it is not a listening stream socket (a datagram socket from ListenDatagram=, or one connection from Accept=yes); echod serves listening stream sockets from socket activation: use ListenStream= with Accept=no',
    );
    assert.equal(err.configuration, true);
  });

  it('another errno is the errno on that fd, and not a configuration error', () => {
    const err = bindError(errno('EBADF', { syscall: 'listen', address: null, fd: 4 }), [fd3, fd4]);
    assert.equal(err.message, 'cannot listen on fd 4 from systemd: EBADF on fd 4');
    assert.equal(err.configuration, false);
  });

  it('other bind errors are not configuration errors', () => {
    assert.equal(bindError(errno('EADDRINUSE', { syscall: 'listen', address: '0.0.0.0', port: 80 }), [tcp, fd3]).configuration, false);
  });
});
