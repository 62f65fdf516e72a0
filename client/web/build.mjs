// Builds the browser bundles into dist/ (or the directory given as the first argument).
// The output depends on the sources and the locked packages only, so a rebuild of unchanged
// sources is byte-identical: tests/test_bundle.py relies on that.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));
const outdir = process.argv[2] ?? "dist";

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  target: ["es2022"],
  outdir,
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
  loader: { ".woff": "dataurl", ".woff2": "dataurl", ".svg": "dataurl", ".png": "dataurl" },
};

await Promise.all([
  esbuild.build({
    ...common,
    format: "esm",
    // The bundles holding yjs decode documents with the TextDecoder of src/text-decoder.js.
    inject: ["src/text-decoder.js"],
    entryPoints: {
      cellsync: "src/cellsync.js",
      sheet: "src/page/sheet-page.js",
      handsontable: "src/page/handsontable-page.js",
    },
  }),
  esbuild.build({ ...common, format: "esm", entryPoints: { index: "src/page/index.js" } }),
  esbuild.build({ ...common, format: "iife", entryPoints: { "service-worker": "src/service-worker.js" } }),
]);
