# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Another session's query text, with what may be a secret taken out (checks long_queries, blocking).

:func:`mask_query` replaces every string literal (``'...'``, ``E'...'``, ``B''``/``X''``/``N''``/``U&''``,
dollar-quoted ``$$...$$`` and ``$tag$...$tag$``), every number and every comment with ``?``, so a
password in ``ALTER ROLE ... PASSWORD '...'`` or a card number in a ``WHERE`` never reaches a result,
a log line, a notification or the state file.  It follows PostgreSQL's lexer: quotes are doubled inside
literals, a backslash escapes in ``E''`` strings, a dollar quote ends only at its own tag, a quoted identifier
("it's") is not a literal.  Whether a backslash escapes in plain ``'...'`` literals depends on
standard_conforming_strings, which a session may have SET: the text is read both ways and whatever either
reading puts inside a literal is masked (``'it\\'s secret'`` and ``'C:\\', x = 'secret'`` both hide
``secret``).  Whatever is cut off (an unterminated literal or comment: the text ended at
``track_activity_query_size`` or at our own limit) is masked to the end.  Masking comes first, then
whitespace runs become one space and the text is cut to ``limit`` characters.  Pure: no I/O.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

QUERY_CHARS = 200  # what an alert shows of a query, after masking
MASK = '?'
ELLIPSIS = u'\u2026'
_COMMENT = '/*%s*/' % MASK

# Identifier characters as PostgreSQL's lexer has them: ASCII letters, _, and every non-ASCII character (it
# takes any byte with the high bit set); digits and $ after the first.  Written as negated ASCII classes:
# a class spelled with \x80-\uffff costs ~10-30 ms to compile, at every module start.
_IDENT_START = re.compile(r'[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]')
_IDENT = re.compile(r'[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*')
_TAG = re.compile(r'\$(?:[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)?\$')
_PARAM = re.compile(r'\$[0-9]+')
# hex/octal/binary (PG 16), decimals with exponent, digits with underscores (PG 16), and any letters glued to them
_NUMBER = re.compile(r'(?:0[xXoObB][0-9A-Fa-f_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)'
                     r'(?:[eE][+-]?[0-9]+)?)[A-Za-z0-9_]*')
_SPACES = re.compile(r'\s+')
# characters that start nothing (no identifier, literal, number, comment, $): kept as they are
_PLAIN = re.compile(r'[\x00-\x21\x23\x25\x26\x28-\x2c\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+')
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


def _raw_tokens(text, plain_backslash):
    """``(start, end, replacement)`` for each token of ``text`` in order, covering it; replacement None keeps the
    token.  ``plain_backslash``: read as with standard_conforming_strings off (a backslash escapes in plain
    literals too)."""
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        nxt = text[index + 1] if index + 1 < size else ''
        if _IDENT_START.match(char):
            end = _IDENT.match(text, index + 1).end()
            word = text[index:end].lower()
            after = text[end] if end < size else ''
            if after == "'" and word in ('e',) + _PLAIN_PREFIXES:
                # B'' and X'' never take escapes; N'' is a plain literal
                backslash = word == 'e' or (word == 'n' and plain_backslash)
                end = _quoted_end(text, end, backslash)
                yield index, end, MASK
            elif word == 'u' and text[end:end + 2] == "&'":
                # U&'' is an error with the setting off; masked as if it were read anyway
                end = _quoted_end(text, end + 1, plain_backslash)
                yield index, end, MASK
            else:
                yield index, end, None
        elif char == "'":
            end = _quoted_end(text, index, plain_backslash)
            yield index, end, MASK
        elif char == '"':
            end = _identifier_end(text, index)
            yield index, end, None
        elif char == '$':
            param = _PARAM.match(text, index)
            tag = _TAG.match(text, index)
            if param:
                end = param.end()
                yield index, end, None
            elif tag:
                close = text.find(tag.group(0), tag.end())
                end = size if close < 0 else close + len(tag.group(0))
                yield index, end, MASK
            else:
                end = index + 1
                yield index, end, None
        elif char == '-' and nxt == '-':
            newline = text.find('\n', index)
            # one line for messages: a -- comment would swallow what follows
            end = size if newline < 0 else newline
            yield index, end, _COMMENT
        elif char == '/' and nxt == '*':
            end = _block_comment_end(text, index)
            yield index, end, _COMMENT
        elif char.isdigit() or (char == '.' and nxt.isdigit()):
            number = _NUMBER.match(text, index)
            end = number.end() if number else index + 1
            yield index, end, MASK
        else:
            plain = _PLAIN.match(text, index)
            end = plain.end() if plain else index + 1
            yield index, end, None
        index = end


def _tokens(text, plain_backslash):
    """:func:`_raw_tokens` with the kept ones joined into runs of up to 64 characters (fewer steps), lazily: a
    caller that stops early pays only for the start."""
    run = None
    for start, end, replacement in _raw_tokens(text, plain_backslash):
        if replacement is None:
            if run is None:
                run = start
            if end - run < 64:
                continue
            yield run, end, None
        else:
            if run is not None:
                yield run, start, None
            yield start, end, replacement
        run = None
    if run is not None:
        yield run, len(text), None


def _in_order(first, second):
    """The tokens of two :func:`_tokens` streams, merged by start."""
    one, two = next(first, None), next(second, None)
    while one is not None and two is not None:
        if one[0] <= two[0]:
            yield one
            one = next(first, None)
        else:
            yield two
            two = next(second, None)
    rest, stream = (one, first) if one is not None else (two, second)
    while rest is not None:
        yield rest
        rest = next(stream, None)


def _visible(piece):
    """How many characters of ``piece`` are not white space."""
    return len(''.join(piece.split()))


def mask_literals(text, stop=None):
    """``text`` with literals, numbers and comments replaced by ``?`` (identifiers, keywords, ``$1`` kept).

    standard_conforming_strings may be off (server-wide, or SET by that session: we cannot tell), and then a
    backslash escapes in plain literals too: ``'it\\'s secret'`` is one literal, while with it on ``'C:\\'`` is.
    The text is read both ways and whatever either reading masks is masked (overlapping spans become one ``?``),
    so a secret in a literal never shows whichever reading is true.

    With ``stop``, only the start: it ends once more than ``stop`` non-space characters are out (what a
    caller cuts at ``stop`` characters anyway), so an 8 kB query costs what its first lines cost.
    """
    out = []
    shown = 0
    done = 0  # text[:done] is in out
    span = None  # [start, end, replacement]: masked, may still grow
    for start, end, replacement in _in_order(_tokens(text, False), _tokens(text, True)):
        # tokens come by start: nothing that starts later can mask text before ``start``
        if span is not None and start >= span[1]:
            out.append(text[done:span[0]])
            out.append(span[2])
            shown += _visible(text[done:span[0]]) + len(span[2])
            done, span = span[1], None
        if span is None and start > done:
            out.append(text[done:start])
            shown += _visible(text[done:start])
            done = start
        if stop is not None and shown > stop:
            return ''.join(out)
        if replacement is None:
            continue
        if span is None:
            span = [start, end, replacement]
        else:  # overlapping: one span; a comment merged with a literal shows as a literal
            span[1] = max(span[1], end)
            if replacement != span[2]:
                span[2] = MASK
    if span is not None:
        out.append(text[done:span[0]])
        out.append(span[2])
        done = span[1]
    out.append(text[done:])
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
