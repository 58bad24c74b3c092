// Crashes shortly after start, every time: PM2 keeps restarting it.
setTimeout(() => {
  console.error('Error: connect ECONNREFUSED 127.0.0.1:5432');
  process.exit(1);
}, 150);
