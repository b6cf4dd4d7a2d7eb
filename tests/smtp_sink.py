"""A small SMTP server for tests: it speaks enough of RFC 5321 for smtplib (EHLO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT) and keeps every message it accepts."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class Sink:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: bool = False
    """Answer MAIL with 451 (try again later), as a server that is down would."""
    unknown: set[str] = field(default_factory=set)
    """Addresses RCPT refuses with 550 (no such mailbox)."""


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    sink = Sink()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("220 sink ESMTP")
            sender, recipients = "", []
            while raw := self.rfile.readline():
                command = raw.decode().strip()
                verb = command[:4].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250 sink")
                elif verb == "MAIL":
                    if sink.refuse:
                        self.reply("451 try again later")
                        continue
                    sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                    self.reply("250 OK")
                elif verb == "RCPT":
                    address = command.split(":", 1)[1].strip(" <>")
                    if address in sink.unknown:
                        self.reply("550 no such mailbox")
                        continue
                    recipients.append(address)
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while (line := self.rfile.readline()) not in (b".\r\n", b""):
                        lines.append(line[1:] if line.startswith(b"..") else line)
                    sink.received.append(
                        Received(sender, recipients, message_from_bytes(b"".join(lines)))
                    )
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:  # RSET, NOOP
                    self.reply("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
