"""Debian's real prometheus-node-exporter for tests: textfile collector only, on 127.0.0.1.

``NodeExporter(textfile_dir).start()`` runs /usr/bin/prometheus-node-exporter on a
free port with every default collector off except the textfile one, and
``scrape()`` parses /metrics with prometheus_client's parser into
``{(name, frozenset(labels.items())): value}``.  ``stop()`` ends only the
process it started, by its pid.
"""
import os
import subprocess
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import free_port, stop_process

BINARY = '/usr/bin/prometheus-node-exporter'


class NodeExporter:
    def __init__(self, textfile_dir, binary=BINARY):
        if not os.access(binary, os.X_OK):
            raise RuntimeError('%s not installed: apt-get install prometheus-node-exporter '
                               '(scripts/install-system-deps.sh)' % binary)
        self.binary = binary
        self.textfile_dir = str(textfile_dir)
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d/metrics' % self.port
        self.proc = None
        self.log = None

    def start(self, timeout=15):
        self.log = open(os.path.join(self.textfile_dir, '..', 'node_exporter.log'), 'wb')
        self.proc = subprocess.Popen([
            self.binary, '--web.listen-address=127.0.0.1:%d' % self.port,
            '--collector.disable-defaults', '--collector.textfile',
            '--collector.textfile.directory=%s' % self.textfile_dir, '--web.disable-exporter-metrics',
        ], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.text()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('node_exporter did not come up on port %d' % self.port)
                time.sleep(0.1)

    def text(self):
        with urllib.request.urlopen(self.url, timeout=5) as response:
            return response.read().decode('utf-8')

    def scrape(self):
        samples = {}
        for family in text_string_to_metric_families(self.text()):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return samples

    def stop(self):
        stop_process(self.proc)
        if self.log is not None:
            self.log.close()
