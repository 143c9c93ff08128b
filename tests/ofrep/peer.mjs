// The real peer of 'hotfix serve''s OFREP endpoints: the OpenFeature Node
// SDK (@openfeature/server-sdk) with its OFREP provider
// (@openfeature/ofrep-provider), pinned in package-lock.json ('make
// flags-deps' installs them). Run by tests/integration/test_ofrep.sh:
//
//   node peer.mjs URL TOKEN KILL-COMMAND...
//
// It evaluates the test document's flags through the SDK, runs
// KILL-COMMAND (which publishes the kill of 'new-checkout'), then asks
// again until the SDK sees the flag off (10 s at most), and prints one
// JSON document of what it saw; the shell test judges it.
import { execFileSync } from 'node:child_process';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const [url, token, ...kill] = process.argv.slice(2);
if (!url || !token || kill.length === 0) {
	console.error('usage: node peer.mjs URL TOKEN KILL-COMMAND...');
	process.exit(2);
}

const details = (d) => ({ value: d.value, variant: d.variant, reason: d.reason,
	errorCode: d.errorCode ?? null, flagMetadata: d.flagMetadata ?? {} });

await OpenFeature.setProviderAndWait(new OFREPProvider({
	baseUrl: url,
	headers: [['Authorization', `Bearer ${token}`]],
}));
const client = OpenFeature.getClient('hotfix-ofrep-test');
const pro = { targetingKey: 'user-1', plan: 'pro' };
const out = {};

out.before = details(await client.getBooleanDetails('new-checkout', false, pro));
out.free = details(await client.getBooleanDetails('new-checkout', true, { targetingKey: 'user-2', plan: 'free' }));
out.banner = details(await client.getStringDetails('banner', 'none', pro));
out.retries = details(await client.getNumberDetails('max-retries', -1, pro));
out.missing = details(await client.getBooleanDetails('no-such-flag', true, pro));
out.mismatch = details(await client.getNumberDetails('banner', 7, pro));

// Without a token the server says 401: the SDK serves the default.
const anon = new OFREPProvider({ baseUrl: url });
await OpenFeature.setProviderAndWait('anon', anon);
out.anonymous = details(await OpenFeature.getClient('anon').getBooleanDetails('new-checkout', false, pro));

execFileSync(kill[0], kill.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
const deadline = Date.now() + 10000;
let asks = 0;
for (;;) {
	const d = await client.getBooleanDetails('new-checkout', true, pro);
	asks++;
	if (d.value === false || Date.now() > deadline) {
		out.after = details(d);
		break;
	}
	await new Promise((r) => setTimeout(r, 20));
}
out.asks_after_kill = asks;
await OpenFeature.close();
console.log(JSON.stringify(out));
