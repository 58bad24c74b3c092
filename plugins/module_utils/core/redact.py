# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove secrets from text we quote back (log excerpts, error evidence)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re

try:
    from urllib.parse import unquote, urlsplit
except ImportError:  # Python 2 controller tooling (sanity)
    from urllib import unquote
    from urlparse import urlsplit

MASK = '***'
MAX_EXCERPT = 240

_PATTERNS = (
    # Authorization: Bearer xxx / Basic xxx
    (re.compile(r'(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}'), r'\1 ' + MASK),
    # credentials inside URLs: the whole userinfo of scheme://user:password@host (a login is
    # personal data, a token is often the user part: https://TOKEN@host)
    (re.compile(r'([a-z][a-z0-9+.-]*://)[^/\s@?#]+@', re.I), r'\1' + MASK + '@'),
    # key=value / key: value where the key says it is secret
    (re.compile(r'(?i)\b([\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|'
                r'private[_-]?key|(?<![a-z])auth|credential|session|cookie)[\w.-]*)(\s*[=:]\s*)("[^"]*"|\'[^\']*\'|[^\s,;&]+)'),
     r'\1\2' + MASK),
)


def redact(text, secrets=()):
    """``text`` with known secret values and secret-looking assignments masked."""
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def excerpt(text, secrets=(), limit=MAX_EXCERPT):
    """One trimmed, redacted line fit for a result or a log."""
    text = redact(text.replace('\r', ' ').replace('\n', ' ').strip(), secrets)
    if len(text) > limit:
        text = text[:limit - 3] + '...'
    return text


def url_credentials(url):
    """The user-info secrets of ``scheme://user:password@host`` (raw and decoded), to mask; [] when none.

    The password only: a login such as ``postgres`` is also an ordinary word of other messages.
    The URL's whole userinfo is masked where the URL itself appears (:func:`redact`).
    """
    if not isinstance(url, str) or '@' not in url:
        return []
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    if not password:
        return []
    return sorted(set([password, unquote(password)]), key=len, reverse=True)


# Prefixes of well-known credential formats (Stripe, GitHub, Slack, GitLab, npm, AWS, SendGrid, JWT ...).
_KNOWN_PREFIX = re.compile(r'^(sk_|rk_|pk_live_|whsec_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|xox[abposr]-|'
                           r'glpat-|npm_|AKIA|ASIA|SG\.|eyJ|AIza|sq0|shpat_|dop_v1_)')
# PM2 gives every process UUIDs (unique_id): identifiers, not credentials, unless the name says so.
_UUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
_TOKEN_CHARS = re.compile(r'^[A-Za-z0-9_\-+/=.~:]+$')
MIN_RANDOM_LENGTH = 20


def _entropy(text):
    counts = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    total = float(len(text))
    return -sum((n / total) * math.log(n / total, 2) for n in counts.values())


def looks_secret(value):
    """Does an environment value look like a credential by itself, whatever its variable is called?

    Known token prefixes, URLs with a password, and long random-looking
    strings (letters and digits mixed, high entropy) do; paths, words,
    numbers and plain URLs do not.
    """
    if not isinstance(value, str) or len(value) < 8:
        return False
    if url_credentials(value):
        return True
    if _KNOWN_PREFIX.match(value) and len(value) >= 12:
        return True
    if len(value) < MIN_RANDOM_LENGTH or not _TOKEN_CHARS.match(value) or _UUID.match(value):
        return False
    if value.startswith(('/', '-', 'http://', 'https://')) or '=' in value.rstrip('='):
        return False  # paths, command-line flags, URLs, KEY=value settings
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and _entropy(value) >= 3.5
