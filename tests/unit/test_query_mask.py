"""Masking another session's query text (postgres/query_mask.py): no literal or number survives, the rest does."""
import random
import re

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.postgres.query_mask import (
    ELLIPSIS, QUERY_CHARS, mask_literals, mask_query,
)

SECRET = 'Zq7s3cr3t'
_SPACES_RE = re.compile(r'\s+')


@pytest.mark.parametrize('query, masked', [
    ("ALTER ROLE app PASSWORD 's3cr3t'", 'ALTER ROLE app PASSWORD ?'),
    ("SELECT * FROM cards WHERE number = '4111111111111111' AND cvv = 123",
     'SELECT * FROM cards WHERE number = ? AND cvv = ?'),
    # quotes doubled inside a literal do not end it
    ("SELECT 'it''s s3cr3t', 'b'", 'SELECT ?, ?'),
    ("SELECT ''''", 'SELECT ?'),
    ("SELECT ''", 'SELECT ?'),
    # a backslash escapes only in E'' strings ...
    ("SELECT E'a\\'s3cr3t', 'b'", 'SELECT ?, ?'),
    ("SELECT e'a\\\\', 's3cr3t'", 'SELECT ?, ?'),
    ("SELECT E'x''y\\n'", 'SELECT ?'),
    # dollar quotes end only at their own tag; other tags inside are text
    ('SELECT $$s3cr3t$$', 'SELECT ?'),
    ("SELECT $fn$ body $$ 's3cr3t' $$ $inner$ x $inner$ $fn$, 1", 'SELECT ?, ?'),
    ('SELECT $a$ $b$ s3cr3t $b$ $a$ FROM t', 'SELECT ? FROM t'),
    ('DO $do$ BEGIN PERFORM 1; END $do$', 'DO ?'),
    # bit, hex, national and unicode-escape strings
    ("SELECT B'0101', X'1F', N'name', U&'d\\0061t\\+000061'", 'SELECT ?, ?, ?, ?'),
    ("SELECT date '2026-12-07', date'2026'", 'SELECT date ?, date?'),
    # numbers of every form; identifiers with digits and parameters stay
    ('SELECT 42, -7, 1.5, .5, 5., 1e10, 2.5E-3, 0x1F, 0o17, 0b101, 1_000_000',
     'SELECT ?, -?, ?, ?, ?, ?, ?, ?, ?, ?, ?'),
    ('SELECT t1.c2, col_3, "x1" FROM t1 WHERE id = $1 AND v > $12', 'SELECT t1.c2, col_3, "x1" FROM t1 WHERE id = $1 AND v > $12'),
    ('SELECT a$1b FROM x', 'SELECT a$1b FROM x'),
    ('SELECT 1::int4, x::numeric(10,2)', 'SELECT ?::int4, x::numeric(?,?)'),
    # a quoted identifier is not a literal: its quote starts nothing
    ('SELECT "it\'s" FROM t WHERE a = \'s3cr3t\'', 'SELECT "it\'s" FROM t WHERE a = ?'),
    ('SELECT "a""b", \'s3cr3t\'', 'SELECT "a""b", ?'),
    # comments go (they may hold values too); an apostrophe in one starts no literal
    ("/* it's */ SELECT 's3cr3t'", '/*?*/ SELECT ?'),
    ("SELECT 1 /* a /* nested */ 's3cr3t' */, 2", 'SELECT ? /*?*/, ?'),
    ("SELECT 1 -- it's\n, 's3cr3t'", 'SELECT ? /*?*/ , ?'),
    ("SELECT 1 - -2", 'SELECT ? - -?'),
    # several lines become one
    ("SELECT a,\n\t b\n  FROM  t", 'SELECT a, b FROM t'),
    ('', ''),
])
def test_masks_every_literal_number_and_comment(query, masked):
    assert mask_query(query) == masked
    assert 's3cr3t' not in mask_query(query)


@pytest.mark.parametrize('query', [
    "SELECT 'unterminated s3cr3t",
    "SELECT E'unterminated \\' s3cr3t",
    'SELECT $$ unterminated s3cr3t',
    'SELECT $tag$ s3cr3t $other$',
    'SELECT 1 /* s3cr3t',
    'SELECT 1 /* /* */ s3cr3t',
    'SELECT 1 -- s3cr3t',
])
def test_an_unterminated_literal_or_comment_is_masked_to_the_end(query):
    """The text ended inside it: cut by track_activity_query_size or by the collector's own limit."""
    masked = mask_query(query)
    assert 's3cr3t' not in masked and 'unterminated' not in masked
    assert masked.startswith('SELECT ')


def test_masking_comes_before_the_limit():
    # the literal starts before character 200 and ends after it: nothing of it may show
    query = 'SELECT ' + 'col, ' * 37 + "'" + 'x' * 50 + SECRET + "' AS tail, " + 'more, ' * 40 + 'last FROM t'
    masked = mask_query(query)
    assert SECRET not in masked and 'xxx' not in masked
    assert len(masked) == QUERY_CHARS + 1 and masked.endswith(ELLIPSIS)
    # what the limit counts is the masked text: a long literal early costs one character
    query = "SELECT '" + 'y' * 500 + "', " + 'b' * 150 + ' FROM t'
    assert mask_query(query) == 'SELECT ?, ' + 'b' * 150 + ' FROM t'


def test_the_limit_and_none():
    assert mask_query(None) is None
    assert mask_query('SELECT ' + 'a' * 300, limit=20) == 'SELECT ' + 'a' * 13 + ELLIPSIS
    assert mask_query('SELECT 1', limit=20) == 'SELECT ?'


def _literal(kind, secret):
    """``secret`` as a literal of ``kind`` that PostgreSQL would read back as ``secret``."""
    if kind == 'standard':
        return "'%s'" % secret.replace("'", "''")
    if kind == 'off':  # a plain literal as read with standard_conforming_strings off
        return "'%s'" % secret.replace('\\', '\\\\').replace("'", "\\'")
    if kind == 'escape':
        return "E'%s'" % secret.replace('\\', '\\\\').replace("'", "\\'")
    tag = '$t%d$' % len(secret)
    assert tag not in secret
    return '%s%s%s' % (tag, secret, tag)


@pytest.mark.parametrize('seed', range(20))
def test_no_secret_survives_any_literal_syntax(seed):
    """Random secrets full of quotes, backslashes, dollars and comment marks, in every literal form, read with
    standard_conforming_strings on or off."""
    rng = random.Random(seed)
    alphabet = "abcXYZ019'\\$\"-*/ ;\n"
    for dummy in range(50):
        secret = SECRET + ''.join(rng.choice(alphabet) for dummy_char in range(rng.randint(0, 20))) + SECRET
        kind = rng.choice(['standard', 'escape', 'dollar', 'off'])
        literal = _literal(kind, secret)
        query = 'UPDATE users SET token = %s WHERE name = %s AND n = %d' % (
            literal, _literal(rng.choice(['standard', 'escape', 'dollar', 'off']), SECRET), rng.randint(0, 99))
        masked = mask_literals(query)
        assert SECRET not in masked, (query, masked)
        if kind in ('escape', 'dollar') or '\\' not in literal:  # read alike either way: nothing more is masked
            assert masked == 'UPDATE users SET token = ? WHERE name = ? AND n = ?', (query, masked)
        else:
            assert masked.startswith('UPDATE users SET token = ?'), (query, masked)


@pytest.mark.parametrize('seed', range(10))
def test_stopping_early_shows_what_masking_everything_then_cutting_shows(seed):
    rng = random.Random(seed)
    parts = ['SELECT', 'a1', "'s3cr3t'", "E'x\\'y'", '$$ z $$', '42', '3.5', '/* c */', '-- l\n', '"Q""x"', ',',
             '\n\n   ', '\t', '(', ')', '=', '$1', 'b']
    for dummy in range(30):
        query = ' '.join(rng.choice(parts) for dummy_part in range(rng.randint(1, 400)))
        whole = _SPACES_RE.sub(' ', mask_literals(query)).strip()
        expected = whole if len(whole) <= QUERY_CHARS else whole[:QUERY_CHARS].rstrip() + ELLIPSIS
        assert mask_query(query) == expected


# standard_conforming_strings off (server-wide, or SET by the session, which we cannot see): a backslash then
# escapes in plain literals too.  Either reading may be the true one, so whatever either puts inside a literal
# is masked (the union).
@pytest.mark.parametrize('query, masked', [
    # off: \' is a quote inside, the literal goes on; on: it ended at the backslash and "s3cr3t" would be text
    ("SELECT 'it\\'s s3cr3t', 'b'", 'SELECT ?'),
    ("SELECT 'it\\'s s3cr3t' FROM t", 'SELECT ?'),
    # on: 'C:\' is a whole literal and 's3cr3t' the next one; off: the first literal runs into the second
    ("SELECT 'C:\\', x = 's3cr3t'", 'SELECT ?'),
    ("SELECT 'C:\\', 's3cr3t'", 'SELECT ?'),
    # a backslash before anything but a quote ends both readings at the same place: nothing else is taken
    ("SELECT 'a\\b', c FROM t WHERE d = 's3cr3t'", 'SELECT ?, c FROM t WHERE d = ?'),
    ("SELECT 'a\\\\', 's3cr3t', c", 'SELECT ?, ?, c'),
    # N'' is a plain literal as well; E'' reads the same either way
    ("SELECT N'it\\'s s3cr3t', 'b'", 'SELECT ?'),
    ("SELECT E'it\\'s s3cr3t', 'b', c", 'SELECT ?, ?, c'),
    ("SELECT e'C:\\\\', 's3cr3t', c", 'SELECT ?, ?, c'),
    # dollar quotes, bit and hex strings, quoted identifiers take no escapes in either reading
    ("SELECT $$C:\\$$, 's3cr3t', c", 'SELECT ?, ?, c'),
    ("SELECT $t$it\\'s$t$, 's3cr3t', c", 'SELECT ?, ?, c'),
    ("SELECT X'1F', B'01', \"a\\\", 's3cr3t', c", 'SELECT ?, ?, "a\\", ?, c'),
])
def test_a_backslash_in_a_plain_literal_masks_what_either_reading_holds(query, masked):
    assert mask_query(query) == masked
    assert 's3cr3t' not in mask_literals(query)


def test_a_backslash_quote_cut_at_the_limit_still_masks():
    # the text ended inside the literal (track_activity_query_size): masked to the end either way
    query = "SELECT a, 'it\\'s " + SECRET + ' and more'
    assert mask_query(query) == 'SELECT a, ?'
    # the literal starts before character 200 and holds the secret after it in the "off" reading
    query = 'SELECT ' + 'col, ' * 37 + "'it\\'s " + 'x' * 50 + SECRET + "' AS tail, 'b', " + 'more, ' * 40 + 'last'
    masked = mask_query(query)
    assert SECRET not in masked and 'xxx' not in masked
    assert masked.startswith('SELECT ' + 'col, ' * 37 + '?')
    # a long query whose start holds the secret: stopping early still masks it, and shows the same as masking all
    query = "SELECT 'it\\'s " + SECRET + "', '', " + ', '.join('c%d' % n for n in range(2000))
    masked = mask_query(query)
    assert SECRET not in masked and masked == 'SELECT ?'
    query = "SELECT 'C:\\', x = '" + SECRET + "', '', '', " + ', '.join('c%d' % n for n in range(2000))
    whole = _SPACES_RE.sub(' ', mask_literals(query)).strip()
    assert SECRET not in whole
    assert mask_query(query) == (whole if len(whole) <= QUERY_CHARS else whole[:QUERY_CHARS].rstrip() + ELLIPSIS)


@pytest.mark.parametrize('seed', range(10))
def test_stopping_early_matches_masking_everything_with_backslashes_in_plain_literals(seed):
    rng = random.Random(seed)
    parts = ['SELECT', 'a1', "'s3cr3t'", "'C:\\'", "'it\\'s'", "'\\\\'", "E'x\\'y'", '$$ z\\ $$', '42', '/* c */',
             '-- l\n', '"Q\\""x"', ',', '\n\n   ', '(', ')', '=', '$1', 'b']
    for dummy in range(30):
        query = ' '.join(rng.choice(parts) for dummy_part in range(rng.randint(1, 400)))
        whole = _SPACES_RE.sub(' ', mask_literals(query)).strip()
        expected = whole if len(whole) <= QUERY_CHARS else whole[:QUERY_CHARS].rstrip() + ELLIPSIS
        assert mask_query(query) == expected
