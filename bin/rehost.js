#!/usr/bin/env node
"use strict";
// The `rehost` command: the compiled CLI (`npm run build` in a checkout; shipped in the package).
const path = require("node:path");

const main = path.join(__dirname, "..", "dist", "lib", "cli", "main.js");
let cli;
try {
  cli = require(main);
} catch (err) {
  if (err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes(main)) {
    process.stderr.write(`rehost: ${main} is missing; run npm run build in ${path.dirname(__dirname)} first.\n`);
    process.exit(2);
  }
  throw err;
}
cli.main(process.argv);
