"""Mail the cloud sends: reset codes and activation letters, over SMTP to the deployment's server.

Off unless ``MEKTEP_CLOUD_SMTP_HOST`` is set (then ``SMTP_SENDER`` is the From address). The message
is plain text in the reader's language; it is sent after the transaction that made its code has
committed, so a code is never mailed that the database does not hold.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from cloud_api.settings import CloudSettings

__all__ = ["mail_configured", "send_mail"]


def mail_configured(settings: CloudSettings) -> bool:
    """Whether this deployment sends mail at all (a server, a sender, and its public address for the links)."""
    return bool(settings.smtp_host and settings.smtp_sender and settings.public_url)


def send_mail(settings: CloudSettings, to: str, subject: str, body: str) -> None:
    """Send one message (blocking: call it off the event loop); an SMTP error is raised to the caller."""
    assert settings.smtp_host and settings.smtp_sender
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
