// The flag benchmark's peer: flagd-core 4.0.1 (tests/flags/node_modules)
// evaluating the same document and contexts as bench/flags_eval.c, one
// thread; and a Map lookup of a string key for scale. Prints
// "CASE 1 NS_PER_OP" lines like the C benchmark.
//   node bench/flags_eval.mjs bench/flags_eval.json [MILLIONS]
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import url from 'node:url';

const here = path.dirname(url.fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../tests/flags/package.json'));
const { FlagdCore } = require('@openfeature/flagd-core');

const [file, millions] = process.argv.slice(2);
const iters = Math.round(Number(millions ?? 1) * 1e6);
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const core = new FlagdCore(undefined, silent);
core.setConfigurations(fs.readFileSync(file, 'utf8'));

const plans = ['free', 'pro', 'enterprise'];
const ctxs = [];
for (let i = 0; i < 1024; i++)
	ctxs.push({ targetingKey: `user-${i * 7919}`, email: `u${i}@${i % 3 ? 'example.com' : 'mail.org'}`,
		plan: plans[i % 3], age: i % 40 });
const map = new Map();
const keys = [];
for (let i = 0; i < 64; i++) {
	keys.push(`feature-${i}`);
	map.set(`feature-${i}`, i);
}

function time(fn) {
	fn(Math.min(iters, 100000));   // warm up the JIT
	const t0 = process.hrtime.bigint();
	const sink = fn(iters);
	const ns = Number(process.hrtime.bigint() - t0) / iters;
	return [ns, sink];
}
const [hns] = time((n) => { let s = 0; for (let i = 0; i < n; i++) s += map.get(keys[i & 63]); return s; });
console.log(`hashtable 1 ${hns.toFixed(1)}`);
for (const key of ['static', 'rule', 'fractional']) {
	const [ns] = time((n) => {
		let s = 0;
		for (let i = 0; i < n; i++)
			s += core.resolveBooleanEvaluation(key, false, ctxs[i & 1023], silent).value ? 1 : 0;
		return s;
	});
	console.log(`${key} 1 ${ns.toFixed(1)}`);
}
