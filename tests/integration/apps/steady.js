// A healthy app: stays up. If TWZRD_TEST_SECRET is set it "leaks" it to stderr once,
// the way real apps print connection strings, so tests can prove we redact it.
if (process.env.TWZRD_TEST_SECRET) {
  console.error(`Error: cannot reach upstream with token ${process.env.TWZRD_TEST_SECRET}`);
}
setInterval(() => {}, 1000);
