"""The whole userinfo of a URL is masked wherever URLs are scrubbed (issue 18 item 12)."""
import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import notify
from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import redact, url_credentials

URL = 'mailtos://you%40gmail.com:hunter2@smtp.gmail.com:587?to=ops@example.com'


@pytest.mark.parametrize('text, hidden, kept', [
    ("Invoked with notify={'urls': ['mailtos://you%40gmail.com:********@smtp.gmail.com']}",
     ['you%40gmail.com', '********@'], ['mailtos://***@smtp.gmail.com']),
    ('push to https://ghp_abcdefghijklmnop1234@github.com/o/r failed', ['ghp_abcdefghijklmnop1234'],
     ['https://***@github.com/o/r']),
    ('connect postgres://app:pa55@db:5432/x', ['app:', 'pa55'], ['postgres://***@db:5432/x']),
    ('plain https://example.com/a@b stays', [], ['https://example.com/a@b']),
])
def test_redact_masks_the_whole_userinfo(text, hidden, kept):
    out = redact(text)
    for part in hidden:
        assert part not in out, out
    for part in kept:
        assert part in out, out


def test_the_login_is_masked_in_the_url_not_everywhere():
    """A login such as ``postgres`` is an ordinary word elsewhere in a message: only the URL's userinfo goes."""
    assert url_credentials('postgres://postgres:pw123456@db/app') == ['pw123456']
    out = redact('postgres://postgres:pw123456@db/app: could not connect to postgres server')
    assert out == 'postgres://***@db/app: could not connect to postgres server'


def test_notify_scrub_masks_a_short_login_and_password():
    url = 'json://ab:cd@127.0.0.1:9/hook'
    out = notify.scrub('POST json://ab:cd@127.0.0.1:9/hook refused (login ab:cd)', [url])
    assert 'ab:cd' not in out, out
