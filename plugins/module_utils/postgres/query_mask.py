# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Another session's query text, with what may be a secret taken out (checks long_queries, blocking).

:func:`mask_query` replaces every string literal (``'...'``, ``E'...'``, ``B''``/``X''``/``N''``/``U&''``,
dollar-quoted ``$$...$$`` and ``$tag$...$tag$``), every number and every comment with ``?``, so a
password in ``ALTER ROLE ... PASSWORD '...'`` or a card number in a ``WHERE`` never reaches a result,
a log line, a notification or the state file.  It follows PostgreSQL's lexer: quotes are doubled inside
literals, a backslash escapes only in ``E''`` strings (standard_conforming_strings on, the default since
9.1), a dollar quote ends only at its own tag, a quoted identifier ("it's") is not a literal.  Whatever
is cut off (an unterminated literal or comment: the text ended at ``track_activity_query_size`` or at our
own limit) is masked to the end.  Masking comes first, then whitespace runs become one space and the text
is cut to ``limit`` characters.  Pure: no I/O.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

QUERY_CHARS = 200  # what an alert shows of a query, after masking
MASK = '?'
ELLIPSIS = u'\u2026'

_IDENT_START = re.compile(r'[A-Za-z_\x80-\uffff]')
_IDENT = re.compile(r'[A-Za-z0-9_$\x80-\uffff]*')
_TAG = re.compile(r'\$(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$')
_PARAM = re.compile(r'\$[0-9]+')
# hex/octal/binary (PG 16), decimals with exponent, digits with underscores (PG 16), and any letters glued to them
_NUMBER = re.compile(r'(?:0[xXoObB][0-9A-Fa-f_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)'
                     r'(?:[eE][+-]?[0-9]+)?)[A-Za-z0-9_]*')
_SPACES = re.compile(r'\s+')
_PLAIN_PREFIXES = ('b', 'x', 'n')  # B'0101', X'1F', N'text': standard literals


# what follows the opening quote, up to and with the closing one (or to the end): '' is a quote inside, and
# in E'' strings a backslash escapes the next character
_STANDARD_BODY = re.compile(r"[^']*(?:''[^']*)*(?:'|\Z)")
_ESCAPE_BODY = re.compile(r"[^'\\]*(?:(?:''|\\.|\\\Z)[^'\\]*)*(?:'|\Z)", re.S)


def _quoted_end(text, start, backslash):
    """Index after the literal whose opening quote is at ``start`` (len(text) when it never ends)."""
    return (_ESCAPE_BODY if backslash else _STANDARD_BODY).match(text, start + 1).end()


def _identifier_end(text, start):
    """Index after the quoted identifier at ``start`` ("" doubled inside)."""
    index, size = start + 1, len(text)
    while index < size:
        if text[index] == '"':
            if index + 1 < size and text[index + 1] == '"':
                index += 2
                continue
            return index + 1
        index += 1
    return size


def _block_comment_end(text, start):
    """Index after the /* comment */ at ``start``; they nest in PostgreSQL."""
    depth, index, size = 0, start, len(text)
    while index < size:
        pair = text[index:index + 2]
        if pair == '/*':
            depth += 1
            index += 2
        elif pair == '*/':
            depth -= 1
            index += 2
            if depth == 0:
                return index
        else:
            index += 1
    return size


def mask_literals(text, stop=None):
    """``text`` with literals, numbers and comments replaced by ``?`` (identifiers, keywords, ``$1`` kept).

    With ``stop``, only the start: it ends once more than ``stop`` non-space characters are out (what a
    caller cuts at ``stop`` characters anyway), so an 8 kB query costs what its first lines cost.
    """
    out = []
    index, size = 0, len(text)
    steps = 0
    while index < size:
        steps += 1
        if stop is not None and steps % 32 == 0 and len(''.join(''.join(out).split())) > stop:
            break
        char = text[index]
        nxt = text[index + 1] if index + 1 < size else ''
        if _IDENT_START.match(char):
            end = _IDENT.match(text, index + 1).end()
            word = text[index:end].lower()
            after = text[end] if end < size else ''
            if after == "'" and word in ('e',) + _PLAIN_PREFIXES:
                out.append(MASK)
                index = _quoted_end(text, end, backslash=(word == 'e'))
            elif word == 'u' and text[end:end + 2] == "&'":
                out.append(MASK)
                index = _quoted_end(text, end + 1, backslash=False)
            else:
                out.append(text[index:end])
                index = end
        elif char == "'":
            out.append(MASK)
            index = _quoted_end(text, index, backslash=False)
        elif char == '"':
            end = _identifier_end(text, index)
            out.append(text[index:end])
            index = end
        elif char == '$':
            param = _PARAM.match(text, index)
            tag = _TAG.match(text, index)
            if param:
                out.append(param.group(0))
                index = param.end()
            elif tag:
                close = text.find(tag.group(0), tag.end())
                out.append(MASK)
                index = size if close < 0 else close + len(tag.group(0))
            else:
                out.append(char)
                index += 1
        elif char == '-' and nxt == '-':
            out.append('/*%s*/' % MASK)  # one line for messages: a -- comment would swallow what follows
            newline = text.find('\n', index)
            index = size if newline < 0 else newline
        elif char == '/' and nxt == '*':
            out.append('/*%s*/' % MASK)
            index = _block_comment_end(text, index)
        elif char.isdigit() or (char == '.' and nxt.isdigit()):
            number = _NUMBER.match(text, index)
            out.append(MASK)
            index = number.end() if number else index + 1
        else:
            out.append(char)
            index += 1
    return ''.join(out)


def mask_query(text, limit=QUERY_CHARS):
    """What an alert may show of a query: masked (:func:`mask_literals`), on one line, at most ``limit``
    characters (then an ellipsis).  None stays None."""
    if text is None:
        return None
    masked = _SPACES.sub(' ', mask_literals(text, stop=limit)).strip()
    if len(masked) > limit:
        return masked[:limit].rstrip() + ELLIPSIS
    return masked
