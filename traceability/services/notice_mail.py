"""Notices by mail: the outbox that mails each notice (a recall) to the people it is for.

A notice is written in the same unit of work as what it reports; mailing it is a side
effect no transaction can hold, so it happens after, from the `notices` table as an
outbox: each round mails every notice not yet mailed to each address it is for (the
active members of a `site:` recipient, or the `user:` named) and records each mailing,
so a notice goes out once per address however often the round runs, and one the SMTP
server refused goes out at the next round. Only staff addresses are used; nothing here
writes to the log.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlmodel import Session, col, select

from traceability.settings import Settings
from traceability.storage.database import Database
from traceability.storage.models import Notice, NoticeMailing, Site, SiteMember, User

logger = logging.getLogger(__name__)

WINDOW = timedelta(days=14)
"""How far back a round looks: a notice not mailed within two weeks (no server, every
address refused) is left to the inbox, not sent stale."""


@dataclass(frozen=True)
class Letter:
    notice_id: int
    email: str
    message: EmailMessage


def addresses(session: Session, recipient: str) -> list[str]:
    """The email addresses behind a notice's recipient: active accounts only."""
    kind, _, name = recipient.partition(":")
    if kind == "user":
        users = session.exec(select(User).where(User.username == name)).all()
    elif kind == "site":
        users = session.exec(
            select(User)
            .join(SiteMember, col(SiteMember.user_id) == col(User.id))
            .join(Site, col(Site.id) == col(SiteMember.site_id))
            .where(Site.code == name)
        ).all()
    else:
        users = []
    return sorted({u.email for u in users if u.is_active and u.email})


def pending(session: Session, settings: Settings, now: datetime) -> list[Letter]:
    """Every (notice of the last `WINDOW`, address) not mailed yet, as the message to send."""
    notices = session.exec(
        select(Notice).where(col(Notice.created_at) >= now - WINDOW).order_by(col(Notice.id))
    ).all()
    sent = {
        (m.notice_id, m.email)
        for m in session.exec(
            select(NoticeMailing).where(col(NoticeMailing.notice_id).in_([n.id for n in notices]))
        ).all()
    }
    letters = []
    for notice in notices:
        assert notice.id is not None  # noqa: S101 - stored
        for email in addresses(session, notice.recipient):
            if (notice.id, email) not in sent:
                letters.append(Letter(notice.id, email, _message(settings, notice, email)))
    return letters


def _message(settings: Settings, notice: Notice, email: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email
    message["Subject"] = f"[{notice.kind}] {notice.text.splitlines()[0][:120]}"
    message.set_content(
        f"{notice.text}\n\nAbout: {notice.subject}\n"
        f"Signed log entry {notice.log_index}. Your inbox on the home page lists it too.\n"
    )
    return message


def send_pending(db: Database, settings: Settings, now: datetime) -> int:
    """One round: mail what is pending and record each mailing; the number mailed. Does
    nothing without an SMTP server (`TRACE_SMTP_HOST`). A failure is logged and left for
    the next round."""
    if not settings.smtp_host:
        return 0
    with db.only_one("notice-mail") as mine:
        # One mailer at a time across server workers and hosts: else each would mail.
        return _round(db, settings, now) if mine else 0


def _round(db: Database, settings: Settings, now: datetime) -> int:
    with db.read() as session:
        letters = pending(session, settings, now)
    if not letters:
        return 0
    mailed = 0
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            for letter in letters:
                try:
                    smtp.send_message(letter.message)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as e:
                    # This address or letter only: the others still go out.
                    logger.warning("notice %d to %s refused: %s", letter.notice_id, letter.email, e)
                    continue
                with db.write() as session:
                    session.add(
                        NoticeMailing(notice_id=letter.notice_id, email=letter.email, sent_at=now)
                    )
                mailed += 1
    except (OSError, smtplib.SMTPException):
        logger.exception("could not mail notices (%d mailed this round)", mailed)
    return mailed
