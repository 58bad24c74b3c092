// Test app for pm2_restart: plain node, no npm deps, listens on 127.0.0.1:$PORT.
//   GET /health -> 200 "ok" (or 500 when misbehaving), GET / -> "pid <pid>"
// DRAIN_MS: how long a worker stays alive after closing its server on SIGINT (see below).
// BAD_MARKER: path of a file; when it exists at start, the app misbehaves as BAD_MODE says:
//   unhealthy -> /health answers 500
//   error     -> writes an error line to stderr after start
//   dead      -> exits at once (never gets back online)
// The test creates the marker after the first start, so only the restart misbehaves.
'use strict';
const http = require('http');
const fs = require('fs');

const port = parseInt(process.env.PORT, 10);
const marker = process.env.BAD_MARKER;
const mode = process.env.BAD_MODE || '';
const bad = Boolean(marker) && fs.existsSync(marker);

if (bad && mode === 'dead') {
  process.stderr.write('refusing to start: bad marker present\n');
  process.exit(1);
}

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    const unhealthy = bad && mode === 'unhealthy';
    res.writeHead(unhealthy ? 500 : 200, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(unhealthy ? 'broken\n' : 'ok\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
  res.end('pid ' + process.pid + '\n');
});

server.listen(port, '127.0.0.1', () => {
  console.log('listening on 127.0.0.1:' + port + ' pid ' + process.pid);
  if (bad && mode === 'error') {
    setTimeout(() => console.error('Error: cannot connect to database (password=hunter2secret)'), 100);
  }
});

// Graceful stop on reload: stop accepting, finish in-flight requests, then exit - but not at once.
// In cluster mode the PM2 daemon hands each connection to a worker over IPC; a worker that exits
// right after server.close() can die with a handed-over connection not yet acknowledged, and
// that connection then hangs forever (measured: ~1 reload in 3 lost one request). Staying alive
// a moment lets such late connections be refused back to the daemon, which gives them to another worker.
// DRAIN_MS=0 gives the naive exit-on-close, kept for bench/bench_restart.py to compare.
const DRAIN_MS = process.env.DRAIN_MS === undefined ? 500 : parseInt(process.env.DRAIN_MS, 10);
process.on('SIGINT', () => {
  if (DRAIN_MS <= 0) { // the naive pattern: exit right in the close callback
    server.close(() => process.exit(0));
    return;
  }
  let closed = false;
  let drained = false;
  const done = () => { if (closed && drained) process.exit(0); };
  server.close(() => { closed = true; done(); });
  setTimeout(() => { drained = true; done(); }, DRAIN_MS);
  setTimeout(() => process.exit(0), 1400).unref(); // before PM2's kill_timeout (1600 ms) sends SIGKILL
});
