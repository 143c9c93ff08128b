// Generates the conformance set of tests/flags/test_conformance.sh and the
// answers of the real peer, @openfeature/flagd-core (pinned in
// package-lock.json):
//
//   node gen.mjs DIR COUNT [SEED]
//
// writes DIR/flags.json (a flag for every operator hotfix supports),
// DIR/contexts.jsonl (COUNT contexts from a seeded PRNG: non-ASCII
// targeting keys, numbers, booleans, missing attributes, versions) and
// DIR/expected.jsonl, the lines 'hotfix flag eval' must print, from
// FlagdCore.resolve() with each flag's own type and a null default.
//
// Every answer is flagd-core's own, non-ASCII keys included: hotfix's
// fractional hashes as flagd-core does (imurmurhash over UTF-16 code units,
// src/flags/flagdhash.c), so no context is treated apart. The targeting keys
// and the 'name' attribute (bucketed by 'frac-bucket-by-name') hold accents,
// CJK and emoji (surrogate pairs), at the start and at the end of the key
// (where imurmurhash's tail is); 'bucket' (bucketed by 'frac-bucket-random')
// is a random string of code points from every range.
import { FlagdCore } from '@openfeature/flagd-core';
import fs from 'node:fs';
import path from 'node:path';

const [dir, countArg, seedArg] = process.argv.slice(2);
if (!dir || !countArg) {
	console.error('usage: node gen.mjs DIR COUNT [SEED]');
	process.exit(2);
}
const COUNT = Number(countArg);
let seed = Number(seedArg ?? 12) >>> 0;

// mulberry32: a small seeded PRNG, so every run makes the same set.
function rand() {
	seed = (seed + 0x6d2b79f5) >>> 0;
	let t = seed;
	t = Math.imul(t ^ (t >>> 15), t | 1);
	t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (n) => Math.floor(rand() * n);

const bool = { on: true, off: false };
const tf = { true: 'yes', false: 'no' };
const v = (name) => ({ var: name });
const tk = v('targetingKey');

// 'hashOnly': the rule reads the targeting key only to bucket it.
const flags = {
	'static-bool': { state: 'ENABLED', variants: bool, defaultVariant: 'on' },
	'static-empty-targeting': { state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'b', targeting: {} },
	'disabled': { state: 'DISABLED', variants: bool, defaultVariant: 'on', targeting: { if: [{ '==': [v('plan'), 'pro'] }, 'on', 'off'] } },
	'eq-loose': { state: 'ENABLED', variants: { yes: 'y', no: 'n' }, defaultVariant: 'no',
		targeting: { if: [{ '==': [v('age'), '42'] }, 'yes', { '==': [v('beta'), 1] }, 'yes', 'no'] } },
	'ne-bool-result': { state: 'ENABLED', variants: tf, defaultVariant: 'false',
		targeting: { '!=': [v('plan'), 'free'] } },
	'strict-eq': { state: 'ENABLED', variants: { on: 1, set: 2, off: 3 }, defaultVariant: 'off',
		targeting: { if: [{ '===': [v('beta'), true] }, 'on', { '!==': [v('beta'), null] }, 'set', 'off'] } },
	'between': { state: 'ENABLED', variants: { adult: 'a', minor: 'm', unknown: 'u' }, defaultVariant: 'unknown',
		targeting: { if: [{ '<': [18, v('age'), 65] }, 'adult', { '<=': [v('age'), 17] }, 'minor',
			{ '<=': [65, v('age'), 200] }, 'adult', 'unknown'] } },
	'gt-ge': { state: 'ENABLED', variants: { high: 3, mid: 2, low: 1 }, defaultVariant: 'low',
		targeting: { if: [{ '>': [v('score'), 0.75] }, 'high', { '>=': [v('score'), 0.25] }, 'mid', null] } },
	'null-zero': { state: 'ENABLED', variants: tf, defaultVariant: 'false',
		targeting: { or: [{ '==': [v('score'), 0] }, { '<=': [v('nothing'), 0] }] } },
	'or-operand': { state: 'ENABLED', variants: { free: 0, pro: 1, enterprise: 2 }, defaultVariant: 'free',
		targeting: { or: [v('plan'), 'free'] } },
	'and-operand': { state: 'ENABLED', variants: { false: 'f', pro: 'p', free: 'fr', enterprise: 'e' }, defaultVariant: 'free',
		targeting: { and: [v('beta'), v('plan')] } },
	'not': { state: 'ENABLED', variants: { on: 'on', off: 'off' }, defaultVariant: 'on',
		targeting: { if: [{ '!': v('beta') }, 'off', 'on'] } },
	'notnot-array': { state: 'ENABLED', variants: tf, defaultVariant: 'false',
		targeting: { '!!': [v('tags')] } },
	'in': { state: 'ENABLED', variants: { eu: 'eu', internal: 'int', other: 'o' }, defaultVariant: 'other',
		targeting: { if: [{ in: [v('country'), ['FR', 'DE', 'IT']] }, 'eu', { in: ['@example', v('email')] }, 'internal', 'other'] } },
	'in-number-substring': { state: 'ENABLED', variants: tf, defaultVariant: 'false',
		targeting: { in: [v('age'), '1234567890'] } },
	'in-tags': { state: 'ENABLED', variants: tf, defaultVariant: 'false',
		targeting: { in: ['beta-tester', v('tags')] } },
	'cat': { state: 'ENABLED', variants: { 'pro-FR': 1, 'free-DE': 2, 'enterprise-US': 3, 'free-FR': 4 }, defaultVariant: 'free-FR',
		targeting: { cat: [v('plan'), '-', v('country')] } },
	'substr': { state: 'ENABLED', variants: { user: 'u', ex: 'e', other: 'o' }, defaultVariant: 'other',
		targeting: { if: [{ '==': [{ substr: [v('email'), -11] }, 'example.com'] }, 'ex',
			{ '==': [{ substr: [v('name'), 0, 5] }, 'user-'] }, 'user', 'other'] } },
	'substr-negative-length': { state: 'ENABLED', variants: { mid: 'm', none: 'n' }, defaultVariant: 'none',
		targeting: { if: [{ '==': [{ substr: [v('name'), 1, -1] }, 'ser-1'] }, 'mid', { substr: [v('plan'), 0, -1] }] } },
	'substr-key': { state: 'ENABLED', variants: { user: 'u', other: 'o' }, defaultVariant: 'other',
		targeting: { if: [{ '==': [{ substr: [tk, 0, 5] }, 'user-'] }, 'user', 'other'] } },
	'starts-ends': { state: 'ENABLED', variants: { internal: 'i', org: 'o', other: 'x' }, defaultVariant: 'other',
		targeting: { if: [{ ends_with: [v('email'), '@example.com'] }, 'internal', { starts_with: [v('email'), 'ops'] }, 'internal',
			{ ends_with: [v('email'), '.org'] }, 'org', null] } },
	'sem-ver': { state: 'ENABLED', variants: { new: 'n', caret: 'c', tilde: 't', eq: 'e', old: 'o', none: 'x' }, defaultVariant: 'none',
		targeting: { if: [{ sem_ver: [v('version'), '>=', '2.1.0'] }, 'new', { sem_ver: [v('version'), '~', '1.2.0'] }, 'tilde',
			{ sem_ver: [v('version'), '^', '1.0.0'] }, 'caret', { sem_ver: [v('version'), '=', '0.9.0'] }, 'eq',
			{ sem_ver: [v('version'), '<', '1.0.0'] }, 'old', null] } },
	'sem-ver-ops': { state: 'ENABLED', variants: tf, defaultVariant: 'false',
		targeting: { or: [{ sem_ver: [v('version'), '!=', '1.2.3'] }, { sem_ver: [v('version'), '<=', 'v1.0'] }, { sem_ver: [v('version'), '>', '3'] }] } },
	'frac-50-50': { hashOnly: true, state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'a',
		targeting: { fractional: [['a', 50], ['b', 50]] } },
	'frac-1-999': { hashOnly: true, state: 'ENABLED', variants: bool, defaultVariant: 'off',
		targeting: { fractional: [['on', 1], ['off', 999]] } },
	'frac-1-1000': { hashOnly: true, state: 'ENABLED', variants: bool, defaultVariant: 'off',
		targeting: { fractional: [['on', 1], ['off', 1000]] } },
	'frac-3-way': { hashOnly: true, state: 'ENABLED', variants: { a: 1, b: 2, c: 3 }, defaultVariant: 'a',
		targeting: { fractional: [['a', 33], ['b', 33], ['c', 34]] } },
	'frac-default-weights': { hashOnly: true, state: 'ENABLED', variants: { a: 1, b: 2, c: 3 }, defaultVariant: 'a',
		targeting: { fractional: [['a'], ['b'], ['c']] } },
	'frac-negative-weight': { hashOnly: true, state: 'ENABLED', variants: { a: 1, b: 2 }, defaultVariant: 'a',
		targeting: { fractional: [['a', -5], ['b', 10], ['a', 3]] } },
	'frac-dynamic-weight': { hashOnly: true, state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'b',
		targeting: { fractional: [['a', v('w')], ['b', 50]] } },
	'frac-custom-bucket': { state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'a',
		targeting: { fractional: [{ cat: [v('$flagd.flagKey'), v('email')] }, ['a', 50], ['b', 50]] } },
	'frac-bucket-by-attr': { state: 'ENABLED', variants: { a: 'A', b: 'B', c: 'C' }, defaultVariant: 'c',
		targeting: { fractional: [v('email'), ['a', 10], ['b', 90]] } },
	'frac-bucket-by-name': { state: 'ENABLED', variants: { a: 'A', b: 'B', c: 'C' }, defaultVariant: 'c',
		targeting: { fractional: [v('name'), ['a', 30], ['b', 30], ['c', 40]] } },
	'frac-bucket-random': { state: 'ENABLED', variants: { a: 'A', b: 'B', c: 'C' }, defaultVariant: 'c',
		targeting: { fractional: [v('bucket'), ['a', 1], ['b', 1], ['c', 1]] } },
	'frac-nested-if': { hashOnly: true, state: 'ENABLED', variants: { a: 'A', b: 'B', c: 'C' }, defaultVariant: 'c',
		targeting: { if: [{ '==': [v('plan'), 'pro'] }, { fractional: [['a', 10], ['b', 90]] },
			{ if: [{ sem_ver: [v('version'), '>=', '1.5.0'] }, { fractional: [['b', 1], ['c', 1]] }, null] }] } },
	'ref': { state: 'ENABLED', variants: bool, defaultVariant: 'off',
		targeting: { if: [{ $ref: 'isInternal' }, 'on', { $ref: 'isAdult' }, 'on', 'off'] } },
	'number-result': { state: 'ENABLED', variants: { 1: 'one', 2: 'two' }, defaultVariant: '2',
		targeting: { if: [v('beta'), 1, 2] } },
	'bool-result': { state: 'ENABLED', variants: { true: 10, false: 20 }, defaultVariant: 'false',
		targeting: { ends_with: [v('email'), '.org'] } },
	'ghost-variant': { state: 'ENABLED', variants: { real: 'r' }, defaultVariant: 'real',
		targeting: { if: [v('beta'), 'ghost', 'real'] } },
	'no-default': { state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: null,
		targeting: { if: [{ '==': [v('plan'), 'pro'] }, 'a', null] } },
	'unknown-operator': { state: 'ENABLED', variants: bool, defaultVariant: 'on',
		targeting: { no_such_op: [v('plan')] } },
	'flagd-props': { state: 'ENABLED', variants: { after: 'after', before: 'before', named: 'named' }, defaultVariant: 'before',
		targeting: { if: [{ '!=': [v('$flagd.flagKey'), 'flagd-props'] }, 'named',
			{ '>': [v('$flagd.timestamp'), 1700000000] }, 'after', 'before'] } },
	'var-default-and-path': { state: 'ENABLED', variants: { gold: 1, silver: 2, none: 3 }, defaultVariant: 'none',
		targeting: { var: ['org.tier', 'none'] } },
	'throws-on-nan': { state: 'ENABLED', variants: tf, defaultVariant: 'false',
		targeting: { '<': [v('country'), 5] } },
	'object-variants': { state: 'ENABLED', variants: { red: { color: 'red', size: 1 }, blue: { color: 'blue', list: [1, 'two', null] } }, defaultVariant: 'red',
		targeting: { if: [{ in: [v('plan'), ['pro', 'enterprise']] }, 'blue', null] } },
	// Constant operators are run when flagd-core builds the rule (its
	// interpreter's 'cat' skips null; one that throws: PARSE_ERROR).
	'const-cat-null': { state: 'ENABLED', variants: { free: 'f', other: 'o' }, defaultVariant: 'other',
		targeting: { if: [{ var: 'beta' }, { cat: ['fr', null, 'ee'] }, 'other'] } },
	'const-throws': { state: 'ENABLED', variants: { a: 'A', b: 'B' }, defaultVariant: 'b',
		targeting: { if: [{ '==': ['abc', 1] }, 'a', { var: 'plan' }] } },
	'float-variants': { state: 'ENABLED', variants: { small: 0.1, big: 1e21, neg: -2.5 }, defaultVariant: 'small',
		targeting: { if: [{ '>': [v('age'), 50] }, 'big', { '<': [v('age'), 10] }, 'neg', null] } },
};

const doc = {
	$schema: 'https://flagd.dev/schema/v0/flags.json',
	flags: Object.fromEntries(Object.entries(flags).map(([k, f]) => {
		const { hashOnly, ...rest } = f;
		return [k, rest];
	})),
	$evaluators: {
		isInternal: { ends_with: [v('email'), '@example.com'] },
		isAdult: { '>=': [v('age'), 18] },
	},
	metadata: { owner: 'hotfix-conformance' },
};

// ---- contexts ------------------------------------------------------------
const keyStyles = [
	() => `user-${int(100000)}`,
	() => `user-${int(100000)}`,
	() => `${pick(['josé', 'zoë', 'ångström', 'françois', 'müller'])}-${int(10000)}`,
	() => `${pick(['用户', '顧客', '사용자', 'ユーザー'])}-${int(10000)}`,
	() => `${pick(['👍', '😀😀😀', '🚀x', 'a🎉b'])}-${int(10000)}`,
	() => `${int(10000)}-${pick(['é', 'ÿ', '用户', '顧客', '사용자', '日本語', '😀', 'x🎉', 'Ω', '\uffff'])}`,
	() => pick(['josé', '顧', '顧客', '사용자', '🚀', '😀😀', 'ü', '数据库', 'é-𝄞-ü']),
	() => `${int(1e9)}`,
	() => '',
];
const versions = ['1.2.3', 'v2.0', '2', '1.2', '1.2.3-beta.1', '1.2.3-alpha', '1.2.3+build.5', '0.9.0', 'not-a-version',
	'1.2.3.4', 'v1.5.7', '2.1.0', '3.0.0-rc.1', '1.10.0', '01.2.3', ' 1.2.4 ', 'V1.0.0', '1.2.3-0.3.7', '1.2.3-x.7.z.92'];
function context() {
	const c = {};
	if (rand() > 0.05)
		c.targetingKey = pick(keyStyles)();
	if (rand() > 0.2)
		c.email = `${pick(['ops', 'dev', 'sales', 'a.b'])}${int(1000)}@${pick(['example.com', 'mail.org', 'corp.io', 'example.com.au'])}`;
	if (rand() > 0.15)
		c.age = pick([() => int(100), () => `${int(100)}`, () => int(1000) / 10, () => null, () => '42', () => 42, () => 'abc', () => true]) ();
	if (rand() > 0.1)
		c.plan = pick(['free', 'pro', 'enterprise', '', 'pro']);
	if (rand() > 0.3)
		c.beta = pick([true, false, 'true', 1, 0, null]);
	if (rand() > 0.2)
		c.version = pick(versions);
	if (rand() > 0.2)
		c.country = pick(['FR', 'DE', 'US', 'JP', 'IT', '']);
	if (rand() > 0.3)
		c.score = pick([() => rand(), () => 0, () => 1, () => '0.5']) ();
	if (rand() > 0.5)
		c.tags = pick([[], ['beta-tester'], ['a', 'b'], ['beta-tester', 'x']]);
	if (rand() > 0.5)
		c.org = pick([{ tier: 'gold' }, { tier: 'silver' }, { tier: null }, {}]);
	if (rand() > 0.3)
		c.w = pick([() => int(100), () => -int(10), () => 1.5, () => null, () => '7', () => 2147483647]) ();
	if (rand() > 0.4)
		c.name = pick(['user-1', 'user-12', 'zoë-3', '用户名', 'x', '', 'Ωmega', '顧客-7', '🚀-launch', 'a🎉', '사용자9', 'müller']);
	if (rand() > 0.2)
		c.bucket = randomString();
	return c;
}

// 0-23 code points drawn from ASCII, Latin-1, the BMP below the surrogates
// (CJK, units of 0x8000 and above) and above them, and astral planes
// (surrogate pairs): every alignment and tail of imurmurhash's blocks.
const unitPools = [
	() => String.fromCharCode(32 + int(95)),
	() => String.fromCharCode(0xa0 + int(0x60)),
	() => String.fromCharCode(0x100 + int(0xd700)),
	() => String.fromCharCode(0xe000 + int(0x1ffe)),
	() => String.fromCodePoint(0x10000 + int(0xfffff)),
];
function randomString() {
	let s = '';
	for (let n = int(24); n > 0; n--)
		s += pick(unitPools)();
	return s;
}

const typeOf = (f) => {
	const t = typeof Object.values(f.variants)[0];
	return t === 'object' ? 'object' : t;
};
const nonAscii = (s) => typeof s === 'string' && /[^\x00-\x7f]/.test(s);

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const core = new FlagdCore(undefined, silent);
core.setConfigurations(JSON.stringify(doc));

fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'flags.json'), JSON.stringify(doc, null, 2) + '\n');
const ctxOut = fs.openSync(path.join(dir, 'contexts.jsonl'), 'w');
const expOut = fs.openSync(path.join(dir, 'expected.jsonl'), 'w');
let nonAsciiFractional = 0;
const keys = Object.keys(flags);
for (let n = 1; n <= COUNT; n++) {
	const c = context();
	let lines = '';
	for (const key of keys) {
		const f = flags[key];
		const r = core.resolve(typeOf(f), key, null, c, silent);
		if (f.hashOnly && nonAscii(c.targetingKey))
			nonAsciiFractional++;
		const line = { context: n, key, value: r.value ?? null, variant: r.variant ?? null, reason: r.reason };
		if (r.reason === 'ERROR')
			line.error_code = r.errorCode;
		lines += JSON.stringify(line) + '\n';
	}
	fs.writeSync(ctxOut, JSON.stringify(c) + '\n');
	fs.writeSync(expOut, lines);
}
fs.closeSync(ctxOut);
fs.closeSync(expOut);
console.log(`${COUNT} contexts x ${keys.length} flags = ${COUNT * keys.length} evaluations; ` +
	`${nonAsciiFractional} of them fractional on a non-ASCII targeting key`);
