"""Whether a request accepts gzip, read as RFC 9110 section 12.5.3 says."""

from __future__ import annotations

import pytest

from budconnect.api.negotiation import accepts_gzip


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("br, gzip;q=1.0", True),
        ("gzip ; q = 0.5", True),
        ("gzip;level=1;q=0", False),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0", False),
        ("identity, *;q=0.5", True),
        ("*;q=1, gzip;q=0", False),  # the explicit entry wins over the wildcard
        ("gzip;q=0, *", False),
        ("gzip;q=abc", True),  # a malformed weight neither refuses nor fails
        ("gzip;q=nan", True),
        ("br", False),
        ("", False),
    ],
)
def test_gzip_is_accepted_as_the_header_says(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted
