"""Issue 18 item 9: the directories a run creates for its state file let job users through
(0755 whatever the umask) and are marked as twzrd's; existing directories are left as they are."""
import os
import stat

from ansible_collections.twzrd.ops.plugins.module_utils.state.store import CREATED_MARKER, StateStore


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_missing_directories_are_0755_and_marked_whatever_the_umask(tmp_path):
    path = tmp_path / 'var' / 'twzrd' / 'state.json'
    old = os.umask(0o077)
    try:
        with StateStore(str(path)) as store:
            store.save()
    finally:
        os.umask(old)
    for directory in (tmp_path / 'var', tmp_path / 'var' / 'twzrd'):
        assert mode(directory) == 0o755
        assert (directory / CREATED_MARKER).is_file()
    assert mode(path) == 0o600


def test_an_existing_directory_keeps_its_mode_and_gets_no_mark(tmp_path):
    directory = tmp_path / 'mine'
    directory.mkdir()
    directory.chmod(0o750)
    with StateStore(str(directory / 'state.json')) as store:
        store.save()
    assert mode(directory) == 0o750
    assert not (directory / CREATED_MARKER).exists()
    assert not (tmp_path / CREATED_MARKER).exists()
