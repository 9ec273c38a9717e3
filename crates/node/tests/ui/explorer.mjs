// End-to-end test of the poex node's web explorer in headless Chromium, driven by playwright-core.
//
//   node explorer.mjs <base-url> <screenshot-dir> <facts.json>
//
// crates/node/tests/explorer.rs runs it against a real node it seeded (a dataset, algorithms, a
// finished job, its bundle and result file, written to facts.json). Twice this script prints
// `SUBMIT-SLOW` and reads back the id of a slow job the Rust side then submits, so the jobs page
// and a job's page can be watched while a job runs. Any failed assertion, console error, page error or
// request to another origin exits non-zero. Chromium: /usr/bin/chromium (Debian's package), or
// POEX_CHROMIUM.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

const [base, shots, factsPath] = process.argv.slice(2);
if (!base || !shots || !factsPath) {
  console.error('usage: node explorer.mjs <base-url> <screenshot-dir> <facts.json>');
  process.exit(2);
}
const facts = JSON.parse(readFileSync(factsPath, 'utf8'));
const executablePath = process.env.POEX_CHROMIUM || '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.error(`explorer: no Chromium at ${executablePath}: apt-get install -y chromium chromium-driver`);
  process.exit(3);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.error(`explorer: playwright-core is not installed (${e.message}): npm ci --prefix crates/node/tests/ui`);
  process.exit(3);
}
mkdirSync(shots, { recursive: true });

const started = Date.now();
let passed = 0;
const log = (...a) => console.log('explorer:', ...a);
function check(cond, what) {
  if (!cond) throw new Error(`FAILED: ${what}`);
  passed += 1;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeout = 15000) {
  const end = Date.now() + timeout;
  let last = null;
  while (Date.now() < end) {
    try {
      if (await fn()) {
        passed += 1;
        return;
      }
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`FAILED (timed out after ${timeout} ms): ${what}${last ? ` (${last.message})` : ''}`);
}

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(request) {
  console.log(request);
  const { value, done } = await stdin.next();
  if (done) throw new Error(`no answer to ${request} on stdin`);
  return value.trim();
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
// Console messages a step expects (Chromium logs every 4xx answer to fetch as an error).
let expectedConsole = null;
let verifyPosts = 0;
try {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  // The explorer must fetch nothing from anywhere but the node.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${base}/`) || url === base) return route.continue();
    problems.push(`a request outside the node: ${url}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    if (expectedConsole && expectedConsole.test(m.text())) return;
    problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (r.url().endsWith('/api/verify')) verifyPosts += 1;
  });
  const shot = async (name, fullPage = false) => {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage });
  };
  const text = async (selector) => (await page.locator(selector).first().textContent()) ?? '';
  const open = async (hash, heading) => {
    await page.goto(`${base}/${hash}`);
    await page.locator('main h1').first().waitFor();
    await until(`${hash} rendered`, async () => (await page.locator('main[aria-busy]').count()) === 0);
    if (heading) check((await text('main h1')).includes(heading), `${hash}: heading "${heading}"`);
    await accessible(hash);
  };
  // Basic accessibility: one h1, every form control labelled, header cells scoped, the current
  // page marked in the navigation.
  const accessible = async (where) => {
    const r = await page.evaluate(() => ({
      h1: document.querySelectorAll('main h1').length,
      unlabelled: Array.from(document.querySelectorAll('main input, main select, main textarea'))
        .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id || e.name),
      unscoped: document.querySelectorAll('main thead th:not([scope])').length,
      current: document.querySelectorAll('nav [aria-current="page"]').length,
      lang: document.documentElement.lang,
    }));
    check(r.h1 === 1, `${where}: exactly one h1 (found ${r.h1})`);
    check(r.unlabelled.length === 0, `${where}: every form control has a label (${r.unlabelled.join(', ')})`);
    check(r.unscoped === 0, `${where}: every column header has scope`);
    check(r.current <= 1, `${where}: at most one current navigation link`);
    check(r.lang === 'en', `${where}: the document has a language`);
  };

  // The page itself: security headers, no inline script.
  const index = await page.request.get(`${base}/`);
  const csp = index.headers()['content-security-policy'] || '';
  check(index.status() === 200, 'GET / answers 200');
  check(csp.includes("script-src 'self'") && csp.includes("default-src 'none'"), `GET / has a strict CSP (${csp})`);
  check(!/<script(?![^>]*\bsrc=)/i.test(await index.text()), 'index.html has no inline script');

  // ---- Jobs, live: a job runs while the page watches ----------------------------------------
  const slowId = await ask('SUBMIT-SLOW');
  check(/^[a-z0-9-]+$/.test(slowId), `got the slow job's id (${slowId})`);
  await page.goto(`${base}/`);
  await until('/ redirects to #/jobs', async () => page.url().endsWith('#/jobs'));
  await page.locator('#jobs').waitFor();
  await accessible('#/jobs');
  const slowRow = page.locator(`#jobs tr[data-job="${slowId}"]`);
  await slowRow.waitFor();
  const firstState = await slowRow.getAttribute('data-state');
  check(firstState === 'queued' || firstState === 'running', `the slow job is queued or running (${firstState})`);
  await until('the live indicator is on', async () => /refreshes every second/.test(await text('#live')));
  await until('the slow job shows running with a stage and a progress bar', async () =>
    (await slowRow.getAttribute('data-state')) === 'running' &&
    (await slowRow.locator('progress').count()) === 1 &&
    (await slowRow.locator('.stage').textContent()).trim().length > 0);
  log('running job shows stage:', (await slowRow.locator('.stage').textContent()).trim());
  await page.evaluate(() => { window.poexNoReload = true; });
  await shot('jobs-live');
  await until('the slow job ends succeeded on the open page (auto-refresh)', async () =>
    (await slowRow.getAttribute('data-state')) === 'succeeded', 60000);
  check(await page.evaluate(() => window.poexNoReload === true), 'the jobs page refreshed without reloading');
  await until('the live indicator turns off', async () => /No job in this list is queued or running/.test(await text('#live')));
  const jobRow = page.locator(`#jobs tr[data-job="${facts.jobId}"]`);
  check((await jobRow.getAttribute('data-state')) === 'succeeded', 'the seeded job shows succeeded');
  const jobRowText = await jobRow.textContent();
  check(jobRowText.includes(facts.algorithm) && jobRowText.includes(facts.dataset), 'the job row names its algorithm and dataset');
  await shot('jobs');

  // ---- Datasets and algorithms ---------------------------------------------------------------
  await open('#/datasets', 'Datasets');
  const ds = page.locator(`#datasets tr[data-name="${facts.dataset}"]`);
  await ds.waitFor();
  check((await ds.locator('code.digest').first().getAttribute('title')) === facts.datasetSha256, 'the dataset row shows its SHA-256');
  check((await ds.textContent()).includes(facts.algorithm), 'the dataset row names the allowed algorithm');
  check((await page.locator('nav a[aria-current="page"]').textContent()) === 'Datasets', 'the navigation marks Datasets');
  await shot('datasets');

  await open('#/algorithms', 'Algorithms');
  const alg = page.locator(`#algorithms tr[data-name="${facts.algorithm}"]`);
  await alg.waitFor();
  const algText = await alg.textContent();
  check(algText.includes(facts.entrypoint), `the algorithm row shows its entrypoint (${facts.entrypoint})`);
  check(algText.includes(facts.dataset), 'the algorithm row names the dataset that allows it');
  await shot('algorithms');

  // ---- One job and its receipt ---------------------------------------------------------------
  await open(`#/jobs/${facts.jobId}`, facts.jobId);
  await page.locator('#subjects').waitFor();
  check((await text('#job-state')).trim() === 'succeeded', 'the job page shows state succeeded');
  const subject = page.locator('#subjects tbody tr').filter({ hasText: facts.resultName });
  check((await subject.count()) === 1, `the receipt lists result ${facts.resultName}`);
  check((await subject.textContent()).includes(facts.resultSha256), 'the subject shows the result\'s SHA-256');
  const mats = page.locator('#materials tbody tr');
  const matTexts = await mats.allTextContents();
  check(matTexts.some((t) => t.startsWith('dataset') && t.includes(facts.dataset)), 'the materials list the dataset (role dataset)');
  check(matTexts.some((t) => t.startsWith('algorithm') && t.includes(facts.algorithm)), 'the materials list the algorithm (role algorithm)');
  check((await text('#builder-id')) === `urn:poex:processor:${facts.processorKeyId}`, 'the builder id names the node\'s processor key');
  for (const [sel, want] of [['#receipt-link', 'payloadType'], ['#bundle-link', 'mediaType']]) {
    const href = await page.locator(sel).getAttribute('href');
    const res = await page.request.get(`${base}${href}`);
    check(res.status() === 200 && want in (await res.json()), `${sel} (${href}) serves the JSON`);
  }
  await shot('job', true);

  // ---- One job, live: its page follows it to the end, then shows its receipt ----------------
  const liveId = await ask('SUBMIT-SLOW');
  await open(`#/jobs/${liveId}`, liveId);
  await until('the job page shows the job queued or running, and says it refreshes', async () =>
    /queued|running/.test(await text('#job-state')) && /refreshes every second/.test(await text('#job-live')));
  check(await page.locator('#subjects').count() === 0, 'no receipt while the job runs');
  await page.evaluate(() => { window.poexNoReload = 'job'; });
  await until('the job page shows the receipt once the job ends', async () =>
    (await text('#job-state')).trim() === 'succeeded' && (await page.locator('#subjects').count()) === 1, 60000);
  check(await page.evaluate(() => window.poexNoReload === 'job'), 'the job page refreshed without reloading');

  // Untrusted strings are text: the slow job wrote a result named like markup.
  const hostile = page.locator('#subjects tbody th code').filter({ hasText: facts.hostileName });
  check((await hostile.count()) === 1, 'a result named like HTML is shown as its literal name');
  check((await page.locator('main img').count()) === 0, 'no element was created from a result name');
  check(await page.evaluate(() => window.poexPwned === undefined), 'no script ran from a result name');

  // ---- Audit trail ---------------------------------------------------------------------------
  await open('#/audit', 'Audit trail');
  await page.locator('#audit').waitFor();
  check((await page.locator(`#audit tr[data-operation="submit"][data-job="${facts.jobId}"]`).count()) === 1,
    'the audit trail shows the job\'s submit event');
  check((await page.locator('#audit tr[data-operation="deny"]').count()) >= 1, 'the audit trail shows the denied request');
  await page.fill('#a-job', facts.jobId);
  await page.click('button:has-text("Apply filters")');
  await until('the job filter is in the address', async () => page.url().includes(`job=${facts.jobId}`));
  await page.locator('#audit').waitFor();
  await accessible('#/audit?job=');
  const jobOps = await page.locator('#audit tbody tr').evaluateAll((rows) => rows.map((r) => [r.dataset.operation, r.dataset.job]));
  check(jobOps.length >= 4 && jobOps.every(([, j]) => j === facts.jobId), `filtering by job shows only that job (${jobOps.length} events)`);
  for (const op of ['submit', 'run-started', 'write-result', 'run-finished']) {
    check(jobOps.some(([o]) => o === op), `the job's events include ${op}`);
  }
  await shot('audit');
  await page.selectOption('#a-operation', 'run-finished');
  await page.click('button:has-text("Apply filters")');
  await until('operation filter applied', async () => page.url().includes('operation=run-finished') &&
    (await page.locator('#audit tbody tr').count()) === 1);
  check((await page.locator('#audit tbody tr').getAttribute('data-operation')) === 'run-finished', 'filter by operation');

  // Paging with `next`.
  await open('#/audit?limit=5', 'Audit trail');
  const page1 = (await page.locator('#audit tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.index))));
  check(page1.length === 5, 'a page of 5 events');
  await page.click('#audit-next');
  await until('the next page loads', async () => page.url().includes('after=') && (await page.locator('#audit-first').count()) === 1);
  const page2 = (await page.locator('#audit tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.index))));
  check(page2.length > 0 && Math.min(...page2) > Math.max(...page1), `the next page continues after index ${Math.max(...page1)}`);

  // The write-result event of the markup-named file is text too.
  await open(`#/audit?job=${slowId}&operation=write-result`, 'Audit trail');
  check((await page.locator('#audit td.object').filter({ hasText: facts.hostileName }).count()) === 1, 'the audit trail shows the markup-like name as text');
  check((await page.locator('main img').count()) === 0, 'no element was created from an audit event');

  // A bad filter: the node's message is shown.
  expectedConsole = /status of 400/;
  await open('#/audit?since=yesterday', 'Audit trail');
  const auditErr = await text('main [role="alert"]');
  check(/RFC 3339/.test(auditErr), `a bad time filter shows the node's explanation (${auditErr})`);
  expectedConsole = null;

  // ---- Log -----------------------------------------------------------------------------------
  const cp = await (await page.request.get(`${base}/api/checkpoints`)).json();
  await open('#/log', 'Transparency log');
  check((await text('#cp-size')) === `${cp.latest.size} entries`, `the log page shows the checkpoint size (${cp.latest.size})`);
  check((await text('#cp-origin')) === cp.latest.origin, 'the log page shows the origin');
  check((await text('#cp-root')) === cp.latest.rootHash, 'the log page shows the root hash');
  check((await text('#cp-vkey')) === cp.verifierKey, 'the log page shows the verifier key');
  const note = await text('#cp-note');
  check(note.startsWith(`${cp.latest.origin}\n${cp.latest.size}\n`), 'the log page shows the signed note');
  const served = await (await page.request.get(`${base}${await page.locator('#checkpoint-link').getAttribute('href')}`)).text();
  check(served.startsWith(cp.latest.origin), 'the checkpoint link serves the note');
  await shot('log');

  // ---- Verify --------------------------------------------------------------------------------
  const verifyWith = async (bundleFile, resultFiles) => {
    await open('#/verify', 'Verify a proof');
    // Opening the page it is already on keeps what was chosen: start afresh.
    if (await page.locator('#verify-clear').isVisible()) await page.click('#verify-clear');
    check((await page.locator('#chosen-results').count()) === 0 && (await page.locator('#checks').count()) === 0,
      'Clear empties the verify page');
    await page.setInputFiles('#bundle-file', bundleFile);
    if (resultFiles.length) await page.setInputFiles('#result-files', resultFiles);
    await until('files are read and hashed', async () => !(await page.locator('#verify-button').isDisabled()));
    await page.click('#verify-button');
  };
  const checksShown = async () => {
    await page.locator('#checks').waitFor();
    return page.locator('#checks tbody tr').evaluateAll((rows) => rows.map((r) => ({
      check: r.dataset.check, ok: r.dataset.ok === 'true', detail: r.querySelector('td.detail').textContent,
    })));
  };

  // The real bundle and the real result: every check passes.
  await verifyWith(facts.bundlePath, [facts.resultPath]);
  const hashed = await text(`#chosen-results li[data-file="${facts.resultName}"] code.digest`);
  check(hashed === facts.resultSha256, `the browser's SHA-256 of the result matches (${hashed})`);
  let rows = await checksShown();
  check(rows.length >= 5 && rows.every((r) => r.ok), `every check passes (${rows.map((r) => `${r.check}:${r.ok}`).join(', ')})`);
  for (const name of ['signature', 'inclusion', 'file']) check(rows.some((r) => r.check === name), `the ${name} check ran`);
  check((await page.locator('.verdict').getAttribute('data-ok')) === 'true', 'the verdict says verified');
  check((await text('#verdict')).includes('Verified'), 'the verdict heading says Verified');
  await shot('verify-pass', true);

  // One byte of the receipt's signature changed: the signature check fails, with the reason.
  await verifyWith(facts.tamperedPath, []);
  rows = await checksShown();
  const sig = rows.find((r) => r.check === 'signature');
  check(sig && !sig.ok, 'a tampered signature fails the signature check');
  check(sig.detail.length > 10, `the failure says why (${sig.detail})`);
  check((await page.locator('.verdict').getAttribute('data-ok')) === 'false', 'the verdict says not verified');
  check((await text('#verdict')).includes('Not verified'), 'the verdict heading says Not verified');
  await shot('verify-tampered', true);

  // A result file whose content differs: the file check fails.
  await verifyWith(facts.bundlePath, [facts.wrongResultPath]);
  rows = await checksShown();
  const file = rows.find((r) => r.check === 'file');
  check(file && !file.ok && file.detail.includes(facts.resultName), `a modified result fails the file check (${file && file.detail})`);
  check(rows.find((r) => r.check === 'signature').ok, 'the signature still passes');
  await shot('verify-file-mismatch', true);

  // A file that is not JSON: a clear error, nothing sent.
  const postsBefore = verifyPosts;
  await verifyWith(facts.notJsonPath, []);
  await page.locator('#verify-status [role="alert"]').waitFor();
  const err = await text('#verify-status [role="alert"]');
  check(err.includes('is not JSON') && err.includes(path.basename(facts.notJsonPath)), `a non-JSON file is named as such (${err})`);
  check((await page.locator('#checks').count()) === 0 && verifyPosts === postsBefore, 'nothing was sent for a non-JSON file');
  await shot('verify-not-json');

  // Drag and drop: the bundle and the result dropped together, sorted out by the page.
  await open('#/verify', 'Verify a proof');
  const dropped = [
    { name: 'bundle.json', type: 'application/json', text: readFileSync(facts.bundlePath, 'utf8') },
    { name: facts.resultName, type: 'text/plain', text: readFileSync(facts.resultPath, 'utf8') },
  ];
  const dt = await page.evaluateHandle((files) => {
    const d = new DataTransfer();
    for (const f of files) d.items.add(new File([f.text], f.name, { type: f.type }));
    return d;
  }, dropped);
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dt });
  await until('the dropped files are sorted into bundle and result', async () =>
    (await page.locator('#chosen-bundle').count()) === 1 &&
    (await text(`#chosen-results li[data-file="${facts.resultName}"] code.digest`)) === facts.resultSha256);
  await page.click('#verify-button');
  rows = await checksShown();
  check(rows.every((r) => r.ok) && rows.some((r) => r.check === 'file'), 'dropped files verify');

  // From a job page: "Check this proof".
  await open(`#/jobs/${facts.jobId}`, facts.jobId);
  await page.click('#check-link');
  rows = await checksShown();
  check(rows.every((r) => r.ok), 'the job page\'s "Check this proof" verifies its bundle');

  // The in-page SHA-256 (for browsers without crypto.subtle) agrees with crypto.subtle.
  const mismatches = await page.evaluate(async () => {
    const bad = [];
    for (const n of [0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 1000, 65537, 300000]) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (i * 31 + 7) & 0xff;
      const want = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', data)), (b) => b.toString(16).padStart(2, '0')).join('');
      if (globalThis.poexExplorer.sha256Hex(data) !== want) bad.push(n);
    }
    return bad;
  });
  check(mismatches.length === 0, `the fallback SHA-256 matches crypto.subtle (differs at lengths ${mismatches.join(', ')})`);

  check(problems.length === 0, `no console errors, page errors or outside requests:\n  ${problems.join('\n  ')}`);
  log(`all ${passed} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${shots}`);
} catch (e) {
  console.error(`explorer: ${e.stack || e.message}`);
  if (problems.length) console.error(`explorer: also seen:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  process.stdin.destroy();
}
