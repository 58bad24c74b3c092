# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove secrets from text we quote back (log excerpts, error evidence)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

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
    # credentials inside URLs: scheme://user:password@host
    (re.compile(r'([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@', re.I), r'\1' + MASK + '@'),
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
    """The user-info secrets of ``scheme://user:password@host`` (raw and decoded), to mask; [] when none."""
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
