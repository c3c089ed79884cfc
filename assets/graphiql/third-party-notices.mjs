// Prints THIRD-PARTY-NOTICES.md for the vendored GraphiQL UMD bundle (run by update.sh):
//
//   node third-party-notices.mjs <unpacked graphiql package> <node_modules of `npm install graphiql@V`>
//
// Which packages the bundle contains comes from the `sources` of its source map
// (graphiql.min.js.map): paths under node_modules/, plus ../../<dir>/ for the packages built
// from the graphiql monorepo itself. Versions, licence names and licence texts come from the
// npm install; a package the install lacks (an optional peer, or a dependency only of older
// releases) is fetched with `npm pack` at its latest version for its licence. The fonts graphiql.min.css embeds are
// checked against the list below: a new font fails the script, so its licence gets looked at.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [packageDir, nodeModules] = process.argv.slice(2);
if (!packageDir || !nodeModules) {
  console.error("usage: node third-party-notices.mjs <graphiql package dir> <node_modules dir>");
  process.exit(2);
}
const graphiql = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8"));

// The fonts graphiql.min.css embeds as data: URLs, with the licence files kept beside this
// script (the packages do not ship them). Checked by reading the fonts' name tables.
const FONTS = {
  Roboto: "Roboto 2.137, Copyright 2011 Google Inc.: Apache License 2.0, [`LICENSE-Roboto-Apache-2.0`](LICENSE-Roboto-Apache-2.0)",
  "Fira Code": "Fira Code 5.002, Copyright 2014-2020 The Fira Code Project Authors: SIL Open Font License 1.1, [`LICENSE-FiraCode-OFL-1.1`](LICENSE-FiraCode-OFL-1.1)",
};

function bundledPackages() {
  const map = JSON.parse(fs.readFileSync(path.join(packageDir, "graphiql.min.js.map"), "utf8"));
  const names = new Set();
  for (const source of map.sources) {
    const at = source.lastIndexOf("node_modules/");
    if (at >= 0) {
      const parts = source.slice(at + "node_modules/".length).split("/");
      names.add(parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]);
      continue;
    }
    const monorepo = /^\.\.\/\.\.\/([^/]+)\//.exec(source);
    if (monorepo) {
      // packages/graphiql-react is @graphiql/react, packages/codemirror-graphql is itself.
      const dir = monorepo[1];
      names.add(dir.startsWith("graphiql-") ? `@graphiql/${dir.slice("graphiql-".length)}` : dir);
    } else if (!source.startsWith("../src/")) {
      throw new Error(`a source the script cannot attribute to a package: ${source}`);
    }
  }
  return [...names].sort();
}

function findInstalled(name) {
  const top = path.join(nodeModules, name);
  if (fs.existsSync(path.join(top, "package.json"))) return top;
  const nested = execFileSync("find", [nodeModules, "-path", `*/node_modules/${name}/package.json`], {
    encoding: "utf8",
  }).split("\n").filter(Boolean).sort();
  return nested.length ? path.dirname(nested[0]) : null;
}

function packLatest(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "notice-"));
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--silent", "--json", name], { cwd: dir, encoding: "utf8" }));
  execFileSync("tar", ["-xzf", packed.filename, "-C", dir], { cwd: dir });
  return path.join(dir, "package");
}

function describe(name) {
  let dir = findInstalled(name);
  let note = "";
  if (!dir) {
    dir = packLatest(name);
    note = "not in the npm install (an optional peer, or a dependency of an older release); latest release's licence";
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const licenseFiles = fs.readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice)([.-]|$)/i.test(f)).sort();
  const text = licenseFiles.map((f) => fs.readFileSync(path.join(dir, f), "utf8").trim()).join("\n\n");
  const license = typeof manifest.license === "string" ? manifest.license : JSON.stringify(manifest.license);
  const author = typeof manifest.author === "string" ? manifest.author : manifest.author?.name;
  return { name, version: manifest.version, license, author, text, note };
}

function embeddedFonts() {
  const css = fs.readFileSync(path.join(packageDir, "graphiql.min.css"), "utf8");
  const families = new Set();
  for (const face of css.matchAll(/@font-face\s*\{[^}]*?font-family:\s*([^;}]+)/g)) {
    families.add(face[1].trim().replace(/^["']|["']$/g, ""));
  }
  return [...families].sort();
}

const packages = bundledPackages().map(describe);
const fonts = embeddedFonts();
const unknown = fonts.filter((f) => !(f in FONTS));
if (unknown.length) {
  throw new Error(`graphiql.min.css embeds fonts without a recorded licence: ${unknown.join(", ")}`);
}

const out = [];
out.push(`# Third-party notices for graphiql ${graphiql.version}`);
out.push("");
out.push(
  `\`graphiql-${graphiql.version}.min.js\` is the UMD bundle of graphiql ${graphiql.version} (MIT, ` +
    "[`LICENSE-graphiql`](LICENSE-graphiql)). React and ReactDOM are loaded beside it, not " +
    "bundled (their own files, [`LICENSE-react`](LICENSE-react)); everything else it needs is " +
    "inside it. This file is generated by `update.sh` (`third-party-notices.mjs`): the packages " +
    "are those the bundle's source map names, and versions and licence texts are those of " +
    `\`npm install graphiql@${graphiql.version}\` at generation time. The bundle was built from ` +
    "the graphiql repository's lockfile, so a version it contains may differ from the one listed; " +
    "the package and its licence are the same."
);
out.push("");
out.push("## Packages in the JavaScript bundle");
out.push("");
out.push("| package | version | licence | note |");
out.push("|---|---|---|---|");
for (const p of packages) {
  out.push(`| ${p.name} | ${p.version} | ${p.license} | ${p.note || (p.text ? "" : "ships no licence file")} |`);
}
out.push("");
out.push(`## Fonts embedded in \`graphiql-${graphiql.version}.min.css\``);
out.push("");
for (const f of fonts) out.push(`- ${FONTS[f]}`);
out.push("");
out.push("## Licence texts");
out.push("");
out.push("Packages with the same licence text share one entry.");
const byText = new Map();
for (const p of packages) {
  const key = p.text || `(no licence file; package.json: "license": "${p.license}"${p.author ? `, author ${p.author}` : ""})`;
  if (!byText.has(key)) byText.set(key, []);
  byText.get(key).push(`${p.name} ${p.version}`);
}
for (const [text, names] of byText) {
  out.push("");
  out.push(`### ${names.join(", ")}`);
  out.push("");
  out.push("```text");
  out.push(text);
  out.push("```");
}
console.log(out.join("\n"));
