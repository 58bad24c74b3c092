// An app that logs the values of the variables named in LEAK_VARS to stderr, the way real apps
// print connection strings and API keys in error messages, so tests can prove we redact them.
for (const name of (process.env.LEAK_VARS || '').split(',').filter(Boolean)) {
  console.error(`Error: upstream rejected ${name}=${process.env[name]}`);
}
setInterval(() => {}, 1000);
