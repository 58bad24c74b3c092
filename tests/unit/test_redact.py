import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import excerpt, looks_secret, redact


def test_known_values_are_masked():
    assert redact('login failed for s3cr3t-value here', {'s3cr3t-value'}) == 'login failed for *** here'


def test_secret_assignments_are_masked():
    text = 'connect password=hunter2 user=app DB_PASSWORD: "x y" api_key=abc token=zzz'
    out = redact(text)
    for secret in ('hunter2', '"x y"', 'abc', 'zzz'):
        assert secret not in out
    assert 'user=app' in out


def test_url_credentials_and_bearer():
    out = redact('GET postgres://app:pa55word@db:5432/x Authorization: Bearer abcdefghijklmnop')
    assert 'pa55word' not in out and 'abcdefghijklmnop' not in out
    assert 'postgres://***@db:5432/x' in out and 'app:' not in out  # the whole userinfo (issue 18 item 12)


def test_excerpt_trims_after_redaction():
    long_line = 'x' * 300 + ' password=hunter2'
    out = excerpt(long_line)
    assert len(out) == 240 and out.endswith('...')
    assert 'hunter2' not in excerpt('a\nb password=hunter2')


# issue 9, items 17 and 18
def test_item17_libpq_no_password_supplied_is_kept():
    assert redact('fe_sendauth: no password supplied') == 'fe_sendauth: no password supplied'
    assert redact('auth_token: abc123') == 'auth_token: ***'


@pytest.mark.parametrize('value, secret', [
    ('sk_live_51HxZ2eKq9Wm3Tq8vNp', True), ('ghp_abcdefghijklmnopqrstuvwxyz0123456789', True),
    ('xoxb-1234-5678-abcdEFGH', True), ('postgres://u:pw123456@db/app', True),
    ('a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6', True),
    ('production', False), ('/home/app/.pm2/logs/web-error.log', False), ('http://127.0.0.1:3000/health', False),
    ('--max-old-space-size=4096', False), ('12345678901234567890', False), ('en_US.UTF-8', False),
    ('f47ac10b-58cc-4372-a567-0e02b2c3d479', False),
])
def test_item18_secret_looking_values(value, secret):
    assert looks_secret(value) is secret
