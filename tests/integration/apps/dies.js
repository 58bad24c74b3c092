// Exits at once: with a small --max-restarts PM2 gives up and marks it errored.
console.error('FATAL: missing configuration');
process.exit(2);
