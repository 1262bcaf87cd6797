"""NetSuite account ids in the two spellings NetSuite asks for.

An account id is written ``1234567`` for production, ``1234567_SB1`` for the
first sandbox and ``1234567_RP`` for a release preview (some are letters then
digits, such as ``TSTDRV1234567``). Token-Based Authentication wants it as the
OAuth ``realm`` in upper case with an underscore (``1234567_SB1``); the REST
host wants it in lower case with a hyphen (``1234567-sb1.suitetalk.api.netsuite.com``).
Mixing the two is the most common cause of "Invalid login attempt".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ACCOUNT = re.compile(r"^([A-Za-z]*[0-9]+)(?:[_-]([A-Za-z]+)([0-9]*))?$")


@dataclass(frozen=True)
class Account:
    """One NetSuite account: its number and, for a sandbox or preview, the suffix."""

    number: str
    suffix: str = ""

    @property
    def realm(self) -> str:
        """The OAuth realm: ``1234567_SB1``."""
        return f"{self.number}_{self.suffix}" if self.suffix else self.number

    @property
    def host_label(self) -> str:
        """The first label of the REST host: ``1234567-sb1``."""
        return (f"{self.number}-{self.suffix}" if self.suffix else self.number).lower()


def parse_account(text: str) -> Account:
    """Read an account id in any of its spellings (``123_SB1``, ``123-sb1``, ``123``).

    Raises:
        ValueError: the text is not an account id; the message says what one looks like.
    """
    match = _ACCOUNT.match(text.strip())
    if match is None:
        raise ValueError(
            "must be the account id from Setup > Company > Company Information, "
            "such as 1234567 or 1234567_SB1"
        )
    number, kind, index = match.groups()
    return Account(number.upper(), f"{kind}{index}".upper() if kind else "")
