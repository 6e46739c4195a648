#!/usr/bin/env node
"use strict";
// Runs the TypeScript sources in a checkout, the compiled files in an installed package.
const fs = require("node:fs");
const path = require("node:path");

const source = path.join(__dirname, "..", "lib", "cli", "main.ts");
if (fs.existsSync(source)) {
  require("tsx/cjs");
  require(source).main(process.argv);
} else {
  require(path.join(__dirname, "..", "dist", "lib", "cli", "main.js")).main(process.argv);
}
