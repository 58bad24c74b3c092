from ansible_collections.twzrd.ops.plugins.module_utils.redact import excerpt, redact


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
    assert 'postgres://app:***@db:5432/x' in out


def test_excerpt_trims_after_redaction():
    long_line = 'x' * 300 + ' password=hunter2'
    out = excerpt(long_line)
    assert len(out) == 240 and out.endswith('...')
    assert 'hunter2' not in excerpt('a\nb password=hunter2')
