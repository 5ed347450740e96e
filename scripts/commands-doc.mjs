// Writes docs/commands.md from the built program (`npm run docs`).
import { mkdir, writeFile } from "node:fs/promises";
import { referenceProgram, renderReference } from "../dist/src/cli/reference.js";

await mkdir(new URL("../docs/", import.meta.url), { recursive: true });
await writeFile(new URL("../docs/commands.md", import.meta.url), renderReference(referenceProgram()));
