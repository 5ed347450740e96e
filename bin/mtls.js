#!/usr/bin/env node
import("../dist/bundle/main.js").catch((err) => {
  if (err && err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/bundle/main.js")) {
    process.stderr.write("error: mtls is not built; run `npm install && npm run build` in its directory\n");
    process.exitCode = 5;
    return;
  }
  throw err;
});
