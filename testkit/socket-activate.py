#!/usr/bin/env python3
"""Socket activation the way systemd does it, for the tests.

Usage: socket-activate.py COUNT [--wrong-pid] [--datagram] -- COMMAND [ARGS...]

Binds COUNT listening TCP sockets on 127.0.0.1 (free ports), or with --datagram UDP sockets
(as systemd's ListenDatagram= does), moves them to fds 3, 4, ...,
sets LISTEN_FDS=COUNT and LISTEN_PID to this process's pid (or another pid with --wrong-pid),
writes "ports P1 P2 ..." to stderr, then execs COMMAND: exec keeps the pid, as systemd's
fork-then-exec does.
"""
import fcntl
import os
import socket
import sys

FIRST_FD = 3  # SD_LISTEN_FDS_START
SCRATCH_FD = 100  # above anything this process has open


def main() -> None:
    args = sys.argv[1:]
    separator = args.index("--")
    count = int(args[0])
    wrong_pid = "--wrong-pid" in args[1:separator]
    datagram = "--datagram" in args[1:separator]
    command = args[separator + 1:]

    ports = []
    scratch = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if datagram else socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        if not datagram:
            sock.listen(128)
        ports.append(sock.getsockname()[1])
        # Out of the way first: the sockets themselves may sit on fds 3, 4, ...
        scratch.append(fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, SCRATCH_FD))
        sock.close()
    for index, fd in enumerate(scratch):
        os.dup2(fd, FIRST_FD + index, inheritable=True)
        os.close(fd)

    env = dict(os.environ)
    env["LISTEN_FDS"] = str(count)
    env["LISTEN_PID"] = str(os.getpid() + 1 if wrong_pid else os.getpid())
    sys.stderr.write("ports " + " ".join(str(port) for port in ports) + "\n")
    sys.stderr.flush()
    os.execvpe(command[0], command, env)


main()
