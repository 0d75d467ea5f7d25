"""Redaction of credentials from text a server or a person will read.

:func:`redact` masks a secret only where it stands *as a credential*, so that a server's
own words stay readable: with the password ``wrong``, "the password is wrong" is left as
it is, while ``user:wrong@host`` becomes ``user:***@host``. The positions it masks:

- URL userinfo: ``:SECRET@``;
- after an auth scheme: ``OAuth SECRET``, ``Bearer SECRET``, ``Basic SECRET``, ``Token SECRET``;
- as the value of a credential-named field: ``token=SECRET``, ``password: SECRET``,
  ``"api_key": "SECRET"`` (a name ending in token, password, passwd, pwd, secret, oauth,
  auth or key);
- anywhere at all, if it is at least :data:`BARE_MIN_LENGTH` characters long: a string
  that long does not turn up in prose by chance, and one glued to other text still leaks.

A secret is also looked for in its percent-encoded form (as it would appear in a URL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["BARE_MIN_LENGTH", "MASK", "redact"]

MASK = "***"
#: Secrets at least this long are masked wherever they occur.
BARE_MIN_LENGTH = 16

_LEAD = (
    r"(?i:\b(?:OAuth|Bearer|Basic|Token|Digest)\s+"
    r"|\b[a-z0-9_.-]*(?:token|password|passwd|pwd|secret|oauth|auth|key)"
    r"[\"']?\s*[=:]\s*[\"']?)"
)
_WORD_CHAR = "[A-Za-z0-9]"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret in ``secrets`` masked where it stands as a credential
    (see the module doc); empty and None secrets are ignored."""
    forms = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""))}
    for form in sorted(forms, key=len, reverse=True):  # "a b" before its part "b"
        if form in text:
            text = _pattern(form).sub(_mask, text)
    return text


def _pattern(form: str) -> re.Pattern[str]:
    secret = re.escape(form)
    end = f"(?!{_WORD_CHAR})"
    alternatives = [f"(:){secret}(?=@)", f"({_LEAD}){secret}{end}"]
    if len(form) >= BARE_MIN_LENGTH:
        alternatives.append(secret)
    return re.compile("|".join(alternatives))


def _mask(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or "") + MASK
