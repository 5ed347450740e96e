# A real SMTP server for the tests: aiosmtpd (Debian's python3-aiosmtpd) with STARTTLS required
# and AUTH PLAIN/LOGIN allowed only after it, storing what arrives in a Maildir.
# usage: smtp-auth-server.py PORT MAILDIR CERT KEY LOGIN_FILE   (LOGIN_FILE: user, then password, one a line)
import asyncio
import ssl
import sys

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult

port, maildir, cert, key, login_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
with open(login_file, "rb") as f:
    user, password = f.read().split(b"\n")[:2]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = getattr(auth_data, "login", None) == user and getattr(auth_data, "password", None) == password
    # handled=False: aiosmtpd then answers 535 itself (its default, handled=True, answers nothing).
    return AuthResult(success=ok, handled=False)


handler = Mailbox(maildir)
loop = asyncio.new_event_loop()
server = loop.run_until_complete(
    loop.create_server(
        lambda: SMTP(handler, tls_context=context, require_starttls=True, authenticator=authenticate, auth_require_tls=True, auth_required=True),
        "127.0.0.1",
        port,
    )
)
print("listening", flush=True)
loop.run_forever()
