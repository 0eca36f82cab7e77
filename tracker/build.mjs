// Builds funnel.js from src/funnel.js with terser, and checks its size budget.
//
//   node build.mjs           write the served file (functions/assets/static/funnel.js)
//   node build.mjs --check   fail when the served file is not what the source builds to
//   node build.mjs --size    only print the sizes and check the budget
//
// Every mode prints the gzipped sizes of the tracker with and without web vitals and fails
// when either is over its budget. The served file is the full one; the build without
// vitals exists only to hold the core to its own budget.
import { readFile, writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';

const SOURCE = new URL('./src/funnel.js', import.meta.url);
const SERVED = new URL('../functions/assets/static/funnel.js', import.meta.url);
const BUDGETS = [
  { name: 'without web vitals', vitals: false, maxGzipBytes: 2048 },
  { name: 'with web vitals (served)', vitals: true, maxGzipBytes: 3072 },
];

async function build(source, vitals) {
  const result = await minify(source, {
    ecma: 2017,
    compress: { global_defs: { VITALS: vitals }, passes: 2 },
    mangle: true,
    format: { ascii_only: true },
  });
  return `${result.code}\n`;
}

// The size the browser downloads: GET /funnel.js answers gzip (level 9) to browsers that accept it.
function gzipBytes(code) {
  return gzipSync(Buffer.from(code), { level: 9 }).length;
}

async function main(mode) {
  const source = await readFile(SOURCE, 'utf8');
  let failed = false;
  let served = '';
  for (const budget of BUDGETS) {
    const code = await build(source, budget.vitals);
    if (budget.vitals) served = code;
    const size = gzipBytes(code);
    const verdict = size <= budget.maxGzipBytes ? 'ok' : 'OVER BUDGET';
    console.log(
      `funnel.js ${budget.name}: ${Buffer.byteLength(code)} bytes, ${size} bytes gzipped ` +
        `(budget ${budget.maxGzipBytes}): ${verdict}`,
    );
    failed ||= size > budget.maxGzipBytes;
  }
  const servedPath = relative(process.cwd(), fileURLToPath(SERVED));
  if (mode === '--check') {
    const committed = await readFile(SERVED, 'utf8').catch(() => '');
    if (committed !== served) {
      console.error(`${servedPath} is not what tracker/src/funnel.js builds to: run \`make tracker\``);
      failed = true;
    } else {
      console.log(`${servedPath} is what the source builds to`);
    }
  } else if (mode !== '--size') {
    await writeFile(SERVED, served);
    console.log(`wrote ${servedPath}`);
  }
  if (failed) process.exit(1);
}

const mode = process.argv[2];
if (mode !== undefined && mode !== '--check' && mode !== '--size') {
  console.error('usage: node build.mjs [--check | --size]');
  process.exit(2);
}
await main(mode);
