// The first file bin/mtls.js runs: the bundle argv takes (routes.ts), run through the shim's
// require, which compiles it with its code cache.
import { routeFile, routeOf } from "./routes.js";

const route = routeOf(process.argv);
// A name in a variable: esbuild leaves the require to run time instead of bundling every match.
const bundle = `./${route ? routeFile(route) : "main.js"}`;
require(bundle);
