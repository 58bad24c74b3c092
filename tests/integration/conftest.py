import os

import pytest

from harness import OtherUserPm2, Pm2, default_pm2_bin
from receivers import HttpReceiver
from pg_harness import *  # noqa: F401,F403  # pylint: disable=wildcard-import,unused-wildcard-import


def pytest_configure(config):
    # `make integration` runs these tests alone, apart from the two xdist workers: they find every PM2 daemon
    # on the host, so another worker's (or a Molecule container's) daemon would be in their count; or they
    # change what every test sees (a real OOM kill moves the host's kill count every alerts run reads).
    config.addinivalue_line('markers', 'host_wide: sees every PM2 daemon on the host, or changes what every '
                                       'test on it sees; runs with no other test of its kind running')


@pytest.fixture
def webhook():
    """A real HTTP receiver on 127.0.0.1 for one test (Apprise's json:// and the like post to it)."""
    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def pm2_bin():
    path = default_pm2_bin()
    if not os.access(path, os.X_OK):
        pytest.fail('PM2 not installed at %s: run `make node-tools`' % path)
    return path


@pytest.fixture
def pm2(pm2_bin, tmp_path):
    """A private PM2 (own PM2_HOME), killed after the test."""
    daemon = Pm2(pm2_bin, tmp_path / 'pm2home')
    yield daemon
    daemon.kill()


@pytest.fixture
def nobody_pm2(pm2_bin):
    """A private PM2 owned by user nobody (an app user), killed after the test; needs root."""
    if os.getuid() != 0:
        pytest.skip('needs root to run PM2 as another user')
    daemon = OtherUserPm2(pm2_bin)
    yield daemon
    daemon.close()
