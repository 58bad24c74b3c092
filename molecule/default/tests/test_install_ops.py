"""Issue 18 items 9 and 10 on a fresh Debian (molecule/default): prepare dry-ran the first install
with install_textfile_dir and made an on-demand run as root before it (what `make run` does);
converge installed over that state directory."""


def test_the_state_directory_of_a_run_before_the_install_lets_job_users_through(host):
    state_dir = host.file('/var/lib/twzrd')
    assert (state_dir.user, state_dir.mode) == ('root', 0o755)
    assert host.file('/var/lib/twzrd/state.json').exists  # the on-demand run's state stays
    postgres_dir = host.file('/var/lib/twzrd/postgres')
    assert (postgres_dir.user, postgres_dir.mode) == ('postgres', 0o700)
    assert host.run('runuser -u postgres -- test -w /var/lib/twzrd/postgres').rc == 0


def test_the_textfile_directory_and_group(host):
    textfile_dir = host.file('/var/lib/prometheus/node-exporter')
    assert (textfile_dir.user, textfile_dir.group, textfile_dir.mode) == ('root', 'twzrd-metrics', 0o1775)
    assert 'twzrd-metrics' in host.user('postgres').groups
