// Compares 'hotfix flag eval' output with flagd-core's answers line by line
// (value, variant, reason, error code; values compared as JSON values):
//   node compare.mjs EXPECTED.jsonl ACTUAL.jsonl
// prints the first 20 mismatches and exits 1 when there is any.
import fs from 'node:fs';
import readline from 'node:readline';

const [expPath, actPath] = process.argv.slice(2);
const lines = (p) => readline.createInterface({ input: fs.createReadStream(p), crlfDelay: Infinity })[Symbol.asyncIterator]();
const exp = lines(expPath), act = lines(actPath);
const canon = (x) => JSON.stringify(x);
let n = 0, bad = 0;
for (;;) {
	const [e, a] = await Promise.all([exp.next(), act.next()]);
	if (e.done && a.done)
		break;
	n++;
	if (e.done || a.done) {
		console.log(`line ${n}: ${e.done ? 'hotfix printed more lines than expected' : 'hotfix printed fewer lines than expected'}`);
		bad++;
		break;
	}
	if (e.value === a.value)
		continue;
	// Same values may be spelled differently (1e+21, 1e21).
	const x = JSON.parse(e.value), y = JSON.parse(a.value);
	const same = x.context === y.context && x.key === y.key && canon(x.value) === canon(y.value) &&
		x.variant === y.variant && x.reason === y.reason && (x.error_code ?? null) === (y.error_code ?? null);
	if (!same) {
		if (++bad <= 20)
			console.log(`line ${n}:\n  flagd-core ${e.value}\n  hotfix     ${a.value}`);
	}
}
console.log(`${n} evaluations compared, ${bad} mismatch(es)`);
process.exit(bad ? 1 : 0);
