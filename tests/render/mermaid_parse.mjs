// Parse Mermaid files with mermaid's own parser (mermaid.parse) in Node, with a DOM from jsdom.
// Usage: node mermaid_parse.mjs FILE... (next to a node_modules with mermaid and jsdom);
// prints "ok FILE TYPE" or "error FILE: message" per file, exit 1 when any failed.
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";
const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const result = await mermaid.parse(readFileSync(file, "utf8"));
    console.log(`ok ${file} ${result.diagramType}`);
  } catch (err) {
    failed += 1;
    console.log(`error ${file}: ${String(err.message || err).split("\n").slice(0, 4).join(" | ")}`);
  }
}
process.exit(failed ? 1 : 0);
