// The page's part of tests/browser/test_dashboard.sh: one phase of the
// scenario in Debian's headless Chromium, driven by playwright-core.
//
//	node tests/browser/dashboard.mjs PHASE
//
// PHASE is canary, guard-rollback, viewer or abort. The shell script sets up
// the sandbox, the load, 'hotfix serve' and the applies, and checks outside
// the browser; this file logs in through the login page and asserts what
// the page shows, with Playwright's auto-waiting locators only (no sleeps,
// no timings). It prints "ok - ..." / "not ok - ..." lines, takes a
// screenshot of each phase into HF_ARTIFACTS and exits 1 at the first
// failure, after printing the page's text and HTML around the failure.
// Any console error or uncaught exception of the page fails the phase.
//
// Environment: HF_URL (http://127.0.0.1:PORT), HF_OPERATOR_TOKEN,
// HF_VIEWER_TOKEN, HF_RUN (the run of the phase), HF_CANARY (HOST:PORT of
// the canary wave's node), HF_ARTIFACTS (a directory),
// HF_BROWSER_TIMEOUT_MS (each wait, default 30000).
import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = process.env;
const phase = process.argv[2];
const URL = need('HF_URL');
const RUN = need('HF_RUN');
const ART = need('HF_ARTIFACTS');
const CANARY = need('HF_CANARY');
const TOKENS = { operator: need('HF_OPERATOR_TOKEN'), viewer: need('HF_VIEWER_TOKEN') };
const WAIT = Number(env.HF_BROWSER_TIMEOUT_MS || 30000);
// A rollback by the guard or after an abort: the guard's failure limit,
// the reverts, the page's next poll or event.
const WAIT_ROLLBACK = 3 * WAIT;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
	'--disable-background-networking', '--disable-component-update', '--disable-sync',
	'--no-first-run', '--disable-quic'];

function need(name) {
	if (!env[name]) {
		console.error(`dashboard.mjs: set ${name}`);
		process.exit(2);
	}
	return env[name];
}

const pages = [];          // [{page, label}] to show on failure
const consoleErrors = [];  // {label, text, loginPage()}
const loginPages = new Set(); // URLs seen answering the login page

class PhaseFailure extends Error {}

// step DESCRIPTION FN: one assertion; the first that fails ends the phase.
async function step(desc, fn) {
	try {
		await fn();
	} catch (e) {
		console.log(`not ok - ${desc}`);
		console.log(`  ${String(e.message || e).split('\n').slice(0, 6).join('\n  ')}`);
		throw new PhaseFailure(desc);
	}
	console.log(`ok - ${desc}`);
}

function expect(cond, what) {
	if (!cond) throw new Error(what);
}

// waitFor SELECTOR [STATE] [TIMEOUT]: the first element matching appears
// (attached by default: SVG shapes and hidden inputs count too).
async function waitFor(page, selector, state = 'attached', timeout = WAIT) {
	await page.locator(selector).first().waitFor({ state, timeout });
}

// open BROWSER LABEL: a fresh context (no storage shared with another), its
// page, its console watched. One message is not the page's: 'hotfix serve'
// answers the login page with status 401 (the page for a browser without
// a token), and Chromium logs every document answered 401 as a console
// error; that line is let through only for a main-frame document that was
// the login page (input#token), nothing else.
async function open(browser, label) {
	const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
	const page = await context.newPage();
	const loginDocs = new Set();
	page.on('response', (resp) => {
		const req = resp.request();
		if (resp.status() === 401 && req.isNavigationRequest() && req.frame() === page.mainFrame())
			loginDocs.add(resp.url());
	});
	page.on('console', (msg) => {
		if (msg.type() !== 'error')
			return;
		const url = msg.location().url || '';
		// Judged at the end: the events of a navigation come in any order.
		consoleErrors.push({ label, text: `console.error: ${msg.text()} (${url})`,
			loginPage: () => /status of 401/.test(msg.text()) && loginDocs.has(url) && loginPages.has(url) });
	});
	page.on('pageerror', (err) => consoleErrors.push({ label, text: `uncaught: ${err.message}`, loginPage: () => false }));
	pages.push({ page, label });
	return page;
}

// login PAGE ROLE: through the login page with ROLE's token.
async function login(page, role) {
	await step(`${role}: the login page loads`, async () => {
		const resp = await page.goto(`${URL}/`, { timeout: WAIT });
		expect(resp && (resp.ok() || resp.status() === 401), `GET / answered ${resp && resp.status()}`);
		await waitFor(page, 'input#token', 'visible');
		loginPages.add(resp.url());
	});
	await step(`${role}: logs in with the token (body[data-role=${role}])`, async () => {
		await page.locator('input#token').fill(TOKENS[role]);
		await page.locator('button#login-submit').click();
		await waitFor(page, `body[data-role=${role}]`);
	});
}

// selectByHash PAGE WHO: the run, selected by the URL hash #run=ID.
async function selectByHash(page, who) {
	await step(`${who}: #run=${RUN} in the URL selects the run, which is in #runs`, async () => {
		await page.evaluate((run) => { location.hash = `run=${run}`; }, RUN);
		await waitFor(page, `#runs li[data-run="${RUN}"][aria-selected=true]`);
		await waitFor(page, '#run-state[data-state]');
	});
}

async function shot(page, name) {
	const path = join(ART, `${name}.png`);
	await page.screenshot({ path, fullPage: true });
	console.log(`# screenshot ${path}`);
}

// ---- the phases -----------------------------------------------------------

// The canary of a harmless guarded apply turns applied, its verdicts pass,
// the chart has points; the page is live. The run is picked from the list.
async function canary(browser) {
	const page = await open(browser, 'operator');
	await login(page, 'operator');
	await step('the event stream is on (#live[data-live=on])', () => waitFor(page, '#live[data-live=on]'));
	await step(`the run ${RUN} appears in #runs`, () => waitFor(page, `#runs li[data-run="${RUN}"]`, 'visible'));
	await step('a click on it selects it (aria-selected, #run-state set, #run=ID in the URL)', async () => {
		await page.locator(`#runs li[data-run="${RUN}"]`).click();
		await waitFor(page, `#runs li[data-run="${RUN}"][aria-selected=true]`);
		await waitFor(page, '#run-state[data-state]');
		await page.waitForURL((u) => u.hash === `#run=${RUN}`, { timeout: WAIT });
	});
	// The journal's step goes from applied to verified within a few ms of
	// the apply, so a page that polls or streams sees 'verified' as often:
	// both are a canary that holds the change.
	const canaryNode = `#topology .shard .node[data-node="${CANARY}"]`;
	await step(`the canary ${CANARY} turns applied in #topology`, () =>
		waitFor(page, `${canaryNode}[data-step=applied], ${canaryNode}[data-step=verified]`));
	await step('it is shown as a healthy primary', () =>
		waitFor(page, `${canaryNode}[data-role=primary][data-health=ok]`));
	await step('a passing verdict appears in #timeline', () =>
		waitFor(page, '#timeline .verdict[data-outcome=pass]'));
	await step('the verdict explains itself', () =>
		waitFor(page, '#timeline .verdict[data-outcome=pass] .explanation'));
	await step('the error_rate chart has points (#charts svg.chart circle.point)', async () => {
		await waitFor(page, '#charts svg.chart[data-metric=error_rate] circle.point');
		const n = await page.locator('#charts svg.chart circle.point').count();
		expect(n > 0, `${n} points`);
		console.log(`# ${n} point(s) in the charts`);
	});
	await step('and its threshold (the manifest\'s max 0.01)', () =>
		waitFor(page, '#charts svg.chart[data-metric=error_rate] .threshold'));
	await shot(page, '1-canary-applied');
}

// A bad hotfix, rolled back by the guard: the page shows the state and why.
async function guardRollback(browser) {
	const page = await open(browser, 'operator');
	await login(page, 'operator');
	await selectByHash(page, 'operator');
	await step('the run is shown rolled back (#run-state[data-state=rolled_back])', () =>
		waitFor(page, '#run-state[data-state=rolled_back]', 'attached', WAIT_ROLLBACK));
	await step('#run-state says rolled_back in its text', async () => {
		const text = await page.locator('#run-state').innerText();
		expect(/rolled.back/i.test(text), `#run-state reads '${text}'`);
	});
	await step('a failing verdict appears in #timeline', () =>
		waitFor(page, '#timeline .verdict[data-outcome=fail]'));
	await step('the chart marks the failing verdict (.verdict-mark[data-outcome=fail])', () =>
		waitFor(page, '#charts svg.chart .verdict-mark[data-outcome=fail]'));
	await step('the page says why: #run-note or a failing verdict names error_rate', async () => {
		await page.locator('#run-note, #timeline .verdict[data-outcome=fail] .explanation',
			{ hasText: 'error_rate' }).first().waitFor({ state: 'attached', timeout: WAIT });
		const note = (await page.locator('#run-note').innerText()).trim();
		console.log(`# #run-note: ${note}`);
	});
	await shot(page, '2-guard-rolled-back');
}

// A viewer sees the running run but cannot abort it; an operator, at the
// same moment, can. Nothing is clicked.
async function viewer(browser) {
	const page = await open(browser, 'viewer');
	await login(page, 'viewer');
	await selectByHash(page, 'viewer');
	await step('the run is running', () => waitFor(page, '#run-state[data-state=running]'));
	await step('the viewer\'s #btn-abort is disabled', async () => {
		await waitFor(page, '#btn-abort');
		await waitFor(page, '#btn-abort:disabled');
	});
	await step('so are #btn-pause and #btn-continue', async () => {
		await waitFor(page, '#btn-pause:disabled');
		await waitFor(page, '#btn-continue:disabled');
	});
	await shot(page, '3-viewer');
	const oper = await open(browser, 'operator');
	await login(oper, 'operator');
	await selectByHash(oper, 'operator');
	await step('the operator\'s #btn-abort on the same run is enabled', () =>
		waitFor(oper, '#btn-abort:enabled'));
}

// Abort from the page: the confirmation, then the run rolls back.
async function abort(browser) {
	const page = await open(browser, 'operator');
	await login(page, 'operator');
	await selectByHash(page, 'operator');
	await step('the run is running', () => waitFor(page, '#run-state[data-state=running]'));
	await step('#btn-pause pauses it (#run-state[data-state=paused])', async () => {
		await page.locator('#btn-pause:enabled').click({ timeout: WAIT });
		await waitFor(page, '#run-state[data-state=paused]');
	});
	await step('#btn-continue lets it go on (running again)', async () => {
		await page.locator('#btn-continue:enabled').click({ timeout: WAIT });
		await waitFor(page, '#run-state[data-state=running]');
	});
	await step('#confirm-no closes the confirmation, the Abort button stays', async () => {
		await page.locator('#btn-abort:enabled').click({ timeout: WAIT });
		await waitFor(page, '#confirm', 'visible');
		await page.locator('#confirm-no').click({ timeout: WAIT });
		await waitFor(page, '#confirm', 'hidden');
		await waitFor(page, '#btn-abort:enabled');
	});
	await step('a click on #btn-abort asks for a confirmation (#confirm)', async () => {
		await page.locator('#btn-abort:enabled').click({ timeout: WAIT });
		await waitFor(page, '#confirm', 'visible');
	});
	await shot(page, '4-abort-confirm');
	await step('#confirm-yes: the confirmation closes', async () => {
		await page.locator('#confirm-yes').click({ timeout: WAIT });
		await waitFor(page, '#confirm', 'hidden');
	});
	await step('the page reaches rolled_back (#run-state[data-state=rolled_back])', () =>
		waitFor(page, '#run-state[data-state=rolled_back]', 'attached', WAIT_ROLLBACK));
	await step('#btn-abort is disabled on the finished run', () => waitFor(page, '#btn-abort:disabled'));
	await step('the timeline shows the abort request (.tl-item[data-kind=request])', () =>
		page.locator('#timeline .tl-item[data-kind=request]', { hasText: 'abort' }).first()
			.waitFor({ state: 'attached', timeout: WAIT }));
	await shot(page, '5-aborted-rolled-back');
}

// pageErrors: the console errors and exceptions, as "label: text", less
// the login page's own 401 (see open).
function pageErrors() {
	return consoleErrors.filter((e) => !e.loginPage()).map((e) => `${e.label}: ${e.text}`);
}

const PHASES = { canary, 'guard-rollback': guardRollback, viewer, abort };

// showPages: what the pages show, for a failure: the text, the parts of
// the contract, the whole HTML into the artifacts.
async function showPages(name) {
	for (const { page, label } of pages) {
		try {
			console.log(`# ${label}'s page: ${page.url()}`);
			const text = await page.locator('body').innerText({ timeout: 2000 });
			console.log(`# its text:\n${text.slice(0, 2500).replace(/^/gm, '#   ')}`);
			for (const sel of ['#run-state', '#run-note', '#runs', '#topology', '#timeline']) {
				const loc = page.locator(sel);
				if (await loc.count()) {
					const html = await loc.first().evaluate((el) => el.outerHTML);
					console.log(`# ${sel}: ${html.slice(0, 800)}`);
				} else {
					console.log(`# ${sel}: not on the page`);
				}
			}
			const html = await page.content();
			writeFileSync(join(ART, `${name}-${label}-failure.html`), html);
			await page.screenshot({ path: join(ART, `${name}-${label}-failure.png`), fullPage: true, timeout: 5000 });
			console.log(`# kept ${join(ART, `${name}-${label}-failure.png`)} and .html`);
		} catch (e) {
			console.log(`# (could not show the ${label}'s page: ${e.message})`);
		}
	}
}

async function main() {
	const run = PHASES[phase];
	if (!run) {
		console.error(`dashboard.mjs: unknown phase '${phase}' (${Object.keys(PHASES).join(', ')})`);
		return 2;
	}
	mkdirSync(ART, { recursive: true });
	const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
	let rc = 0;
	try {
		await run(browser);
		await step('the page logged no console error and threw nothing', () => {
			const errors = pageErrors();
			expect(errors.length === 0, errors.join('\n'));
		});
	} catch (e) {
		if (!(e instanceof PhaseFailure)) console.log(`not ok - ${phase}: ${e.stack || e}`);
		const errors = pageErrors();
		if (errors.length) console.log(`# console errors:\n${errors.map((s) => `#   ${s}`).join('\n')}`);
		await showPages(phase);
		rc = 1;
	} finally {
		await browser.close();
	}
	return rc;
}

process.exitCode = await main();
