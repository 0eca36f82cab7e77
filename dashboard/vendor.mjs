// The dashboard's chart library, uPlot, vendored from the npm package pinned in
// package-lock.json, and the page's size budget.
//
//   node vendor.mjs           copy uPlot's files and licence into the served folder
//   node vendor.mjs --check   fail when the vendored files are not the pinned package's
//   node vendor.mjs --size    only print the sizes and check the budget
//
// Every mode prints the gzipped size of each file the page loads (the served folder:
// functions/assets/static/dashboard) and fails when their sum is over the budget.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const SERVED = new URL('../functions/assets/static/dashboard/', import.meta.url);
const PACKAGE = new URL('./node_modules/uplot/', import.meta.url);
const VENDORED = [
  { from: 'dist/uPlot.iife.min.js', to: 'uplot.min.js' },
  { from: 'dist/uPlot.min.css', to: 'uplot.min.css' },
  { from: 'LICENSE', to: 'uplot.LICENSE' },
];
// What the page loads: its HTML, its script and styles, and uPlot's.
const PAGE = ['index.html', 'app.js', 'app.css', 'uplot.min.js', 'uplot.min.css'];
const BUDGET_GZIP_BYTES = 150 * 1024;

// The size the browser downloads: the API answers gzip (level 9) to browsers that accept it.
function gzipBytes(bytes) {
  return gzipSync(bytes, { level: 9 }).length;
}

async function pinnedVersion() {
  const manifest = JSON.parse(await readFile(new URL('./package.json', import.meta.url), 'utf8'));
  const installed = JSON.parse(await readFile(new URL('package.json', PACKAGE), 'utf8'));
  const pinned = manifest.dependencies.uplot;
  if (installed.version !== pinned) {
    throw new Error(`node_modules has uplot ${installed.version}, package.json pins ${pinned}: run \`npm ci\``);
  }
  return pinned;
}

async function size() {
  let total = 0;
  for (const name of PAGE) {
    const bytes = await readFile(new URL(name, SERVED));
    const gzipped = gzipBytes(bytes);
    total += gzipped;
    console.log(`dashboard/${name}: ${bytes.length} bytes, ${gzipped} bytes gzipped`);
  }
  const served = await readdir(SERVED);
  const unknown = served.filter((name) => !PAGE.includes(name) && !name.endsWith('.LICENSE'));
  if (unknown.length) console.log(`not loaded by the page: ${unknown.join(', ')}`);
  const verdict = total <= BUDGET_GZIP_BYTES ? 'ok' : 'OVER BUDGET';
  console.log(`the dashboard's page: ${total} bytes gzipped (budget ${BUDGET_GZIP_BYTES}): ${verdict}`);
  return total <= BUDGET_GZIP_BYTES;
}

async function main(mode) {
  let ok = true;
  if (mode !== '--size') {
    const version = await pinnedVersion();
    for (const file of VENDORED) {
      const wanted = await readFile(new URL(file.from, PACKAGE));
      const target = new URL(file.to, SERVED);
      const shown = relative(process.cwd(), fileURLToPath(target));
      if (mode === '--check') {
        const committed = await readFile(target).catch(() => Buffer.alloc(0));
        if (!committed.equals(wanted)) {
          console.error(`${shown} is not uplot ${version}'s ${file.from}: run \`make dashboard-vendor\``);
          ok = false;
        }
      } else {
        await writeFile(target, wanted);
        console.log(`wrote ${shown} (uplot ${version}'s ${file.from})`);
      }
    }
    if (mode === '--check' && ok) console.log(`the vendored files are uplot ${version}'s`);
  }
  ok = (await size()) && ok;
  if (!ok) process.exit(1);
}

const mode = process.argv[2];
if (mode !== undefined && mode !== '--check' && mode !== '--size') {
  console.error('usage: node vendor.mjs [--check | --size]');
  process.exit(2);
}
await main(mode);
