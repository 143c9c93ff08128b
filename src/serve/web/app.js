/* The dashboard of 'hotfix serve': the runs, the selected run (its state,
 * note, steps on the topology, timeline, the guard's metrics as SVG
 * charts), pause/continue/abort for an operator, kept up to date from the
 * journal's event stream. Plain DOM, no library: the page is served with
 * a Content-Security-Policy of 'self' only, so nothing here may come from
 * elsewhere, and text from the journal only ever goes into textContent. */
'use strict';

(function () {
	/* Run states a run cannot leave: nothing to pause or abort there. */
	var FINISHED = { promoted: true, rolled_back: true, failed: true };
	/* The kinds of journal events: an EventSource only hands named events
	 * to listeners of that name. Unknown kinds still reach the page
	 * through the run's refresh by the next known one or the poll. */
	var KINDS = ['run', 'wave', 'step', 'bake', 'verdict', 'guard', 'rollback', 'promote',
		     'request', 'error', 'snapshot', 'resume', 'pause', 'abort', 'message'];
	/* How often the selected run may be read again while events pour in,
	 * and how often the cluster (which asks every node) is read. */
	var RUN_REFRESH_MS = 250;
	var RUNS_REFRESH_MS = 1000;
	var CLUSTER_REFRESH_MS = 5000;
	var CLUSTER_EVENT_MS = 2000;
	/* The events after which the nodes hold something else. */
	var CLUSTER_KINDS = { step: true, rollback: true, promote: true };
	/* Without the event stream the page polls runs at that pace too. */
	var POLL_MS = CLUSTER_REFRESH_MS;
	var OLDER_LIMIT = 200;

	var st = {
		role: null,          /* 'viewer' or 'operator', once whoami answered */
		tokens: false,
		runs: [],
		selected: null,      /* the selected run's id */
		pinned: false,       /* chosen by the URL or a click, not "the newest" */
		run: null,           /* the selected run as /api/v1/runs/{run} gave it */
		older: [],           /* older events of the selected run, loaded on demand */
		olderMore: false,
		cluster: null,
		clusterError: null,
		live: false,
		busy: false,         /* a mutation is on its way */
		asked: 0,            /* reads of the selected run asked for... */
		shown: 0             /* ...and the newest one shown */
	};

	function $(id) {
		return document.getElementById(id);
	}

	/* An HTML element 'tag' with attributes 'attrs' (class, data-*...) and
	 * children: nodes or strings (as text). */
	function el(tag, attrs, children) {
		var e = document.createElement(tag);

		setAttrs(e, attrs);
		(children || []).forEach(function (c) {
			if (c === null || c === undefined)
				return;
			e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
		});
		return e;
	}

	function setAttrs(e, attrs) {
		Object.keys(attrs || {}).forEach(function (k) {
			if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false)
				e.setAttribute(k, String(attrs[k]));
		});
	}

	var SVGNS = 'http://www.w3.org/2000/svg';

	function svg(tag, attrs, title) {
		var e = document.createElementNS(SVGNS, tag);

		setAttrs(e, attrs);
		if (title) {
			var t = document.createElementNS(SVGNS, 'title');

			t.textContent = title;
			e.appendChild(t);
		}
		return e;
	}

	function clear(e) {
		while (e.firstChild)
			e.removeChild(e.firstChild);
	}

	function pad(n, w) {
		var s = String(n);

		while (s.length < (w || 2))
			s = '0' + s;
		return s;
	}

	/* A time of day as HH:MM:SS (local), with milliseconds on request. */
	function clock(ms, millis) {
		var d = new Date(ms);
		var s = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());

		return millis ? s + '.' + pad(d.getMilliseconds(), 3) : s;
	}

	function dateTime(ms) {
		var d = new Date(ms);

		return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
			clock(ms);
	}

	function fmtNum(v) {
		if (v === null || v === undefined || isNaN(v))
			return 'n/a';
		if (v === 0)
			return '0';
		var a = Math.abs(v);

		if (a >= 1000 || a < 0.001)
			return v.toExponential(2);
		return String(Number(v.toPrecision(4)));
	}

	function fmtAge(ms) {
		if (ms === null || ms === undefined)
			return 'n/a';
		if (ms < 1000)
			return ms + ' ms';
		return (ms / 1000).toFixed(1) + ' s';
	}

	/* ---- talking to the server ------------------------------------------ */

	/* The token the login page stored, or null (no --tokens). */
	function token() {
		var parts = document.cookie ? document.cookie.split('; ') : [];
		var i;

		for (i = 0; i < parts.length; i++)
			if (parts[i].indexOf('hotfix_token=') === 0)
				return decodeURIComponent(parts[i].slice('hotfix_token='.length));
		return null;
	}

	/* A request to the API: resolves to {status, body}. The token goes in
	 * the Authorization header, the only place the server takes it from
	 * for a mutation (the cookie alone is for GETs). */
	function api(method, path) {
		var headers = { Accept: 'application/json' };
		var t = token();

		if (t)
			headers.Authorization = 'Bearer ' + t;
		return fetch(path, { method: method, headers: headers, credentials: 'same-origin',
				     cache: 'no-store' })
			.then(function (r) {
				return r.json().catch(function () {
					return {};
				}).then(function (body) {
					/* A token taken away: back to the login page. */
					if (r.status === 401 && st.tokens)
						location.reload();
					return { status: r.status, body: body };
				});
			});
	}

	/* Call 'fn' at most every 'ms': a call while one is due is folded into
	 * it (which reads the newest state anyway), a call after it sets the
	 * next one, so the last event is never missed. */
	function throttle(fn, ms) {
		var timer = null, last = 0;

		return function () {
			if (timer)
				return;
			timer = setTimeout(function () {
				timer = null;
				last = Date.now();
				fn();
			}, Math.max(0, last + ms - Date.now()));
		};
	}

	function say(text, isError) {
		var m = $('message');

		m.textContent = text;
		m.className = isError ? 'error' : '';
		m.hidden = !text;
	}

	/* ---- who we are ------------------------------------------------------- */

	function whoami() {
		return api('GET', '/api/v1/whoami').then(function (r) {
			if (r.status !== 200) {
				say('whoami: ' + (r.body.error || r.status), true);
				return;
			}
			st.role = r.body.role;
			st.tokens = !!r.body.tokens;
			document.body.setAttribute('data-role', st.role);
			$('whoami').textContent = st.role + (st.tokens ? ' token' : ' (no tokens: loopback only)');
			$('logout').hidden = !st.tokens;
			renderButtons();
		});
	}

	/* ---- the runs ---------------------------------------------------------- */

	function hashRun() {
		var m = /(?:^#|&)run=([^&]*)/.exec(location.hash);

		return m ? decodeURIComponent(m[1]) : null;
	}

	function loadRuns() {
		return api('GET', '/api/v1/runs').then(function (r) {
			if (r.status !== 200)
				return;
			st.runs = r.body.runs || [];
			renderRuns();
			/* Follow the newest run until one is chosen. */
			if (!st.pinned && st.runs.length && st.selected !== st.runs[0].run)
				select(st.runs[0].run, false);
		});
	}

	function renderRuns() {
		var ul = $('runs');

		clear(ul);
		if (!st.runs.length)
			ul.appendChild(el('li', { 'class': 'empty' }, ['no run in the journal yet']));
		st.runs.forEach(function (r) {
			var li = el('li', { 'data-run': r.run, 'data-state': r.state, tabindex: 0,
					    'aria-selected': r.run === st.selected ? 'true' : 'false',
					    'class': r.run === st.selected ? 'selected' : null }, [
				el('span', { 'class': 'run-name' }, [r.hotfix + ' v' + r.version]),
				el('span', { 'class': 'state', 'data-state': r.state }, [r.state]),
				el('span', { 'class': 'run-id muted' }, [r.run + ' · ' + dateTime(r.created_ms)])
			]);

			li.addEventListener('click', function () {
				choose(r.run);
			});
			li.addEventListener('keydown', function (ev) {
				if (ev.key === 'Enter' || ev.key === ' ') {
					ev.preventDefault();
					choose(r.run);
				}
			});
			ul.appendChild(li);
		});
	}

	/* A run chosen by the user: it goes into the URL, so a reload or a
	 * shared link shows it again. */
	function choose(id) {
		var h = '#run=' + encodeURIComponent(id);

		if (location.hash !== h)
			history.pushState(null, '', h);
		select(id, true);
	}

	function select(id, pinned) {
		st.pinned = st.pinned || pinned;
		if (st.selected === id)
			return loadRun();
		st.selected = id;
		st.run = null;
		st.older = [];
		st.olderMore = false;
		hideConfirm();
		renderRuns();
		renderRun();
		return loadRun();
	}

	/* ---- the selected run -------------------------------------------------- */

	function loadRun() {
		var id = st.selected, n = ++st.asked;

		if (!id)
			return Promise.resolve();
		return api('GET', '/api/v1/runs/' + encodeURIComponent(id)).then(function (r) {
			/* Another run was chosen meanwhile, or a later read of this
			 * one already answered. */
			if (id !== st.selected || n < st.shown)
				return;
			st.shown = n;
			if (r.status !== 200) {
				st.run = null;
				renderRun();
				$('run-title').textContent = 'run ' + id + ': ' + (r.body.error || r.status);
				return;
			}
			st.run = r.body;
			/* A server that sends only the newest events says there are
			 * more; one that sends them all says nothing. */
			if (st.older.length === 0)
				st.olderMore = !!r.body.events_more ||
					r.body.events_total > (r.body.events || []).length;
			/* The list shows the state the run has now. */
			st.runs.forEach(function (x) {
				if (x.run === id && x.state !== r.body.state) {
					x.state = r.body.state;
					renderRuns();
				}
			});
			renderRun();
		});
	}

	function renderRun() {
		var r = st.run;
		var state = $('run-state');
		var meta = $('run-meta');

		clear(meta);
		if (!r) {
			$('run-title').textContent = st.selected ? 'run ' + st.selected : 'No run selected';
			state.textContent = '';
			state.setAttribute('data-state', '');
			$('run-note').textContent = '';
			$('run-report').hidden = true;
			renderButtons();
			renderTimeline();
			renderCharts();
			renderTopology();
			return;
		}
		$('run-title').textContent = r.hotfix + ' v' + r.version;
		state.textContent = r.state;
		state.setAttribute('data-state', r.state);
		$('run-note').textContent = r.note || '';
		[['run', r.run], ['owner', r.owner || 'n/a'], ['cluster', r.cluster],
		 ['operator', r.operator || 'n/a'], ['created', dateTime(r.created_ms)],
		 ['updated', dateTime(r.updated_ms)],
		 ['driven by', r.driven ? 'pid ' + r.driven_by : 'no live process'],
		 ['request', r.request || 'none'],
		 ['audit chain', r.audit_chain_ok === false ? 'BROKEN' : 'verifies']
		].forEach(function (kv) {
			meta.appendChild(el('dt', {}, [kv[0]]));
			meta.appendChild(el('dd', { 'data-field': kv[0] }, [String(kv[1])]));
		});
		$('run-report').href = '/api/v1/runs/' + encodeURIComponent(r.run) + '/report';
		$('run-report').hidden = false;
		renderButtons();
		renderTimeline();
		renderCharts();
		renderTopology();
	}

	/* ---- pause, continue, abort ------------------------------------------- */

	function allowed() {
		return st.role === 'operator' && !!st.run && !FINISHED[st.run.state] && !st.busy;
	}

	function renderButtons() {
		var ok = allowed();

		['btn-pause', 'btn-continue', 'btn-abort'].forEach(function (id) {
			$(id).disabled = !ok;
		});
		if (!ok)
			hideConfirm();
	}

	function mutate(action) {
		var id = st.selected;

		if (!allowed())
			return;
		st.busy = true;
		renderButtons();
		api('POST', '/api/v1/runs/' + encodeURIComponent(id) + '/' + action).then(function (r) {
			if (r.status === 202)
				say(action + ' of run ' + id + ': ' + (r.body.result || 'requested'), false);
			else
				say(action + ' of run ' + id + ' refused (' + r.status + '): ' +
				    (r.body.error || ''), true);
		}, function (e) {
			say(action + ' of run ' + id + ' failed: ' + e, true);
		}).then(function () {
			st.busy = false;
			renderButtons();
			return loadRun();
		});
	}

	function showConfirm() {
		if (!allowed())
			return;
		$('confirm-text').textContent = 'Abort run ' + st.selected + ' (' + st.run.hotfix +
			')? Its applied steps are rolled back.';
		$('confirm').hidden = false;
		$('confirm-no').focus();
	}

	function hideConfirm() {
		$('confirm').hidden = true;
	}

	/* ---- the timeline -------------------------------------------------------- */

	/* Every event the page knows of the run, oldest first: the newest ones
	 * the run view holds, the older ones loaded on demand, and the
	 * verdicts and guard events, which the run view always holds whole. */
	function timelineEvents(r) {
		var bySeq = {};
		var out = [];

		function add(e) {
			if (!bySeq[e.seq]) {
				bySeq[e.seq] = e;
				out.push(e);
			}
		}
		(r.events || []).forEach(add);
		st.older.forEach(add);
		(r.verdicts || []).forEach(function (v) {
			add({ seq: v.seq, ts_ms: v.ts_ms, kind: 'verdict', message: v.explanation });
		});
		(r.guard || []).forEach(function (g) {
			add({ seq: g.seq, ts_ms: g.ts_ms, kind: 'guard', message: g.message });
		});
		out.sort(function (a, b) {
			return a.seq - b.seq;
		});
		return out;
	}

	function outcomeOf(e, verdicts) {
		var i;

		for (i = 0; i < verdicts.length; i++)
			if (verdicts[i].seq === e.seq)
				return verdicts[i].outcome;
		var m = /^(pass|fail|unobservable)\b/.exec(e.message || '');

		return m ? m[1] : 'other';
	}

	function renderTimeline() {
		var ol = $('timeline');
		var r = st.run;
		/* Newest at the bottom: kept in view while one reads there. */
		var follow = !ol.firstChild || ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 8 ||
			ol.getAttribute('data-run') !== (r ? r.run : '');

		clear(ol);
		ol.setAttribute('data-run', r ? r.run : '');
		$('older').hidden = !(r && st.olderMore);
		if (!r)
			return;
		timelineEvents(r).forEach(function (e) {
			var attrs = { 'class': 'tl-item', 'data-kind': e.kind, 'data-seq': e.seq };
			var text;

			if (e.kind === 'verdict') {
				attrs['class'] += ' verdict';
				attrs['data-outcome'] = outcomeOf(e, r.verdicts || []);
				text = el('span', { 'class': 'explanation' }, [e.message]);
			} else {
				text = el('span', { 'class': 'message' }, [e.message]);
			}
			ol.appendChild(el('li', attrs, [
				el('time', { datetime: new Date(e.ts_ms).toISOString() }, [clock(e.ts_ms, true)]),
				el('span', { 'class': 'kind' }, [e.kind]),
				text
			]));
		});
		if (!ol.firstChild)
			ol.appendChild(el('li', { 'class': 'empty' }, ['no event yet']));
		if (follow)
			ol.scrollTop = ol.scrollHeight;
	}

	/* Events before the oldest one shown, from the events endpoint of the
	 * run (a server that has none answers 404: then there is nothing
	 * more to show). */
	function loadOlder() {
		var r = st.run, id = st.selected;
		var oldest = Infinity;

		if (!r)
			return;
		(r.events || []).concat(st.older).forEach(function (e) {
			oldest = Math.min(oldest, e.seq);
		});
		if (oldest === Infinity)
			return;
		api('GET', '/api/v1/runs/' + encodeURIComponent(id) + '/events?before=' + oldest +
		    '&limit=' + OLDER_LIMIT).then(function (res) {
			var evs;

			if (id !== st.selected)
				return;
			if (res.status !== 200) {
				st.olderMore = false;
				renderTimeline();
				return;
			}
			evs = Array.isArray(res.body) ? res.body : res.body.events || [];
			st.older = st.older.concat(evs);
			if (typeof res.body.events_more === 'boolean')
				st.olderMore = res.body.events_more;
			else if (typeof res.body.more === 'boolean')
				st.olderMore = res.body.more;
			else
				st.olderMore = evs.length >= OLDER_LIMIT;
			renderTimeline();
		});
	}

	/* ---- the guard's metrics as charts --------------------------------------- */

	var W = 600, H = 210, ML = 58, MR = 12, MT = 26, MB = 30;

	/* The verdict a sample belongs to: the verdict event closest in time
	 * (the samples are journaled next to it), or null. */
	function verdictNear(verdicts, ts) {
		var best = null, i;

		for (i = 0; i < verdicts.length; i++) {
			var d = Math.abs(verdicts[i].ts_ms - ts);

			if (d <= 2000 && (!best || d < Math.abs(best.ts_ms - ts)))
				best = verdicts[i];
		}
		return best;
	}

	function renderCharts() {
		var box = $('charts');
		var r = st.run;
		var samples, metrics = [], byMetric = {}, blind = [], t0 = Infinity, t1 = -Infinity;

		clear(box);
		if (!r)
			return;
		samples = (r.samples || []).slice().sort(function (a, b) {
			return a.ts_ms - b.ts_ms || a.n - b.n;
		});
		samples.forEach(function (s) {
			t0 = Math.min(t0, s.ts_ms);
			t1 = Math.max(t1, s.ts_ms);
			if (!s.metric) {
				blind.push(s);   /* an interval the guard could not see */
				return;
			}
			if (!byMetric[s.metric]) {
				byMetric[s.metric] = [];
				metrics.push(s.metric);
			}
			byMetric[s.metric].push(s);
		});
		if (!metrics.length) {
			box.appendChild(el('p', { 'class': 'muted' }, [
				'no guard samples for this run (no guard, or not sampled yet)']));
			return;
		}
		if (t1 - t0 < 2000) {
			t0 -= 1000;
			t1 += 1000;
		}
		metrics.forEach(function (m) {
			box.appendChild(chart(m, byMetric[m], blind, r.verdicts || [], t0, t1));
		});
	}

	function chart(metric, samples, blind, verdicts, t0, t1) {
		var pw = W - ML - MR, ph = H - MT - MB;
		var hi = 0, thrMax = 0, i;
		var g = svg('svg', { 'class': 'chart', 'data-metric': metric, viewBox: '0 0 ' + W + ' ' + H,
				     role: 'img', 'aria-label': 'the guard\'s ' + metric + ' over time' });
		var rules = {}, ruleNames = [], valuePts = [], marks = {};

		samples.forEach(function (s) {
			if (s.value !== null)
				hi = Math.max(hi, s.value);
			if (s.baseline !== null)
				hi = Math.max(hi, s.baseline);
			if (s.threshold !== null)
				thrMax = Math.max(thrMax, s.threshold);
		});
		/* A limit far above what was measured would flatten the values
		 * into the axis: it is drawn at the top edge, marked off scale. */
		var offScale = hi > 0 && thrMax > hi * 10;

		if (!offScale)
			hi = Math.max(hi, thrMax);
		if (!(hi > 0))
			hi = 1;
		hi *= 1.15;
		function x(ts) {
			return ML + (ts - t0) / (t1 - t0) * pw;
		}
		function y(v) {
			return MT + ph - Math.min(v, hi) / hi * ph;
		}

		/* The frame, the axis labels. */
		g.appendChild(svg('rect', { 'class': 'frame', x: ML, y: MT, width: pw, height: ph }));
		g.appendChild(svg('text', { 'class': 'axis', x: ML - 4, y: MT + 8, 'text-anchor': 'end' }))
			.textContent = fmtNum(hi);
		g.appendChild(svg('text', { 'class': 'axis', x: ML - 4, y: MT + ph, 'text-anchor': 'end' }))
			.textContent = '0';
		g.appendChild(svg('text', { 'class': 'axis', x: ML, y: H - 4 })).textContent = clock(t0);
		g.appendChild(svg('text', { 'class': 'axis', x: ML + pw, y: H - 4, 'text-anchor': 'end' }))
			.textContent = clock(t1);
		g.appendChild(svg('text', { 'class': 'chart-title', x: ML, y: 16 })).textContent = metric;

		/* The baseline and each rule's limit, as steps over time: a resume
		 * takes a new baseline. */
		function stepLine(cls, pts, title) {
			var d = [], k;

			for (k = 0; k < pts.length; k++) {
				var xa = k === 0 ? ML : x(pts[k].ts), xb = k + 1 < pts.length ? x(pts[k + 1].ts) : ML + pw;
				var yy = cls.indexOf('threshold') >= 0 && offScale ? MT : y(pts[k].v);

				d.push(xa.toFixed(1) + ',' + yy.toFixed(1), xb.toFixed(1) + ',' + yy.toFixed(1));
			}
			g.appendChild(svg('polyline', { 'class': cls, points: d.join(' ') }, title));
		}
		var base = [];

		samples.forEach(function (s) {
			if (s.baseline !== null && (!base.length || base[base.length - 1].v !== s.baseline))
				base.push({ ts: s.ts_ms, v: s.baseline });
			if (s.threshold !== null) {
				if (!rules[s.rule]) {
					rules[s.rule] = [];
					ruleNames.push(s.rule);
				}
				var rr = rules[s.rule];

				if (!rr.length || rr[rr.length - 1].v !== s.threshold)
					rr.push({ ts: s.ts_ms, v: s.threshold });
			}
		});
		if (base.length)
			stepLine('baseline', base, 'baseline ' + fmtNum(base[base.length - 1].v));
		ruleNames.forEach(function (rule) {
			var rr = rules[rule];

			stepLine('threshold' + (offScale ? ' off-scale' : ''), rr, 'limit ' +
				 fmtNum(rr[rr.length - 1].v) + ' (' + rule + ')' +
				 (offScale ? ', off the scale' : ''));
		});
		if (offScale)
			g.appendChild(svg('text', { 'class': 'axis threshold-label', x: ML + pw - 2, y: MT + 10,
						    'text-anchor': 'end' })).textContent =
				'limit ' + fmtNum(thrMax) + ' ↑';

		/* The verdicts: one mark each, by its outcome. */
		samples.forEach(function (s) {
			if (s.verdict >= 1 && !marks[s.verdict])
				marks[s.verdict] = s;
		});
		Object.keys(marks).forEach(function (k) {
			var s = marks[k];
			var v = verdictNear(verdicts, s.ts_ms);
			var outcome = v ? v.outcome : s.outcome;

			g.appendChild(svg('rect', { 'class': 'verdict-mark', 'data-outcome': outcome,
						    'data-verdict': s.verdict, x: (x(s.ts_ms) - 3).toFixed(1),
						    y: MT + ph + 3, width: 6, height: 8 },
					  'verdict ' + s.verdict + ' at ' + clock(s.ts_ms, true) + ': ' +
					  (v ? v.explanation : outcome)));
		});
		blind.forEach(function (s) {
			g.appendChild(svg('rect', { 'class': 'verdict-mark', 'data-outcome': 'unobservable',
						    x: (x(s.ts_ms) - 3).toFixed(1), y: MT + ph + 3, width: 6,
						    height: 8 },
					  'unobservable interval at ' + clock(s.ts_ms, true) +
					  (s.detail ? ': ' + s.detail : '')));
		});

		/* The values: a line through them, a point for every sample (a
		 * hollow one on the axis where the interval had no value). */
		for (i = 0; i < samples.length; i++)
			if (samples[i].value !== null)
				valuePts.push(x(samples[i].ts_ms).toFixed(1) + ',' + y(samples[i].value).toFixed(1));
		if (valuePts.length > 1)
			g.appendChild(svg('polyline', { 'class': 'value-line', points: valuePts.join(' ') }));
		samples.forEach(function (s) {
			var na = s.value === null;
			var cls = 'point' + (s.verdict === 0 ? ' base' : '') + (na ? ' na' : '');

			g.appendChild(svg('circle', { 'class': cls, 'data-outcome': s.outcome,
						      'data-verdict': s.verdict,
						      cx: x(s.ts_ms).toFixed(1), cy: na ? MT + ph : y(s.value).toFixed(1),
						      r: 3.5 },
					  clock(s.ts_ms, true) + ' ' + metric + ' ' + fmtNum(s.value) +
					  (s.verdict === 0 ? ' (baseline)' : ' on ' + s.scope) +
					  ', baseline ' + fmtNum(s.baseline) + ', limit ' + fmtNum(s.threshold) +
					  (s.rule ? ' (' + s.rule + ')' : '') + ': ' + s.outcome +
					  (s.detail ? ', ' + s.detail : '')));
		});
		return el('figure', { 'class': 'chart-box' }, [g]);
	}

	/* ---- the topology ------------------------------------------------------- */

	function loadCluster() {
		return api('GET', '/api/v1/cluster').then(function (r) {
			if (r.status === 200) {
				st.cluster = r.body;
				st.clusterError = null;
			} else {
				st.cluster = null;
				st.clusterError = r.body.error || 'status ' + r.status;
			}
			renderTopology();
		}, function (e) {
			st.clusterError = String(e);
			renderTopology();
		});
	}

	/* The selected run's step on a node: the one it worked on last (a
	 * node has one step per change). */
	function stepOn(steps, id, address) {
		var best = null;

		steps.forEach(function (s) {
			if ((s.node === id || s.address === address) &&
			    (!best || s.updated_ms > best.updated_ms))
				best = s;
		});
		return best;
	}

	function renderTopology() {
		var box = $('topology');
		var steps = st.run ? st.run.steps || [] : [];
		var nodes, shards = {}, order = [];

		clear(box);
		if (st.cluster) {
			nodes = st.cluster.nodes;
			$('cluster-meta').textContent = st.cluster.cluster + ' · ' + st.cluster.mode +
				' · state ' + st.cluster.state + ' · ' + st.cluster.shards + ' shard(s)';
		} else {
			/* The cluster did not answer: the run's own steps still say
			 * which node is where. */
			var seen = {};

			nodes = [];
			steps.forEach(function (s) {
				if (seen[s.node])
					return;
				seen[s.node] = true;
				var hp = /^(.*):(\d+)$/.exec(s.address) || [null, s.address, ''];

				nodes.push({ id: s.node, host: hp[1], port: hp[2], role: s.role || 'unknown',
					     shard: s.shard, health: 'unknown', heartbeat_age_ms: null,
					     build: '', hotfix: null });
			});
			$('cluster-meta').textContent = st.clusterError ?
				'the cluster did not answer: ' + st.clusterError +
				(nodes.length ? ' (nodes as the run knows them)' : '') : '';
		}
		nodes.forEach(function (n) {
			if (!shards[n.shard]) {
				shards[n.shard] = [];
				order.push(n.shard);
			}
			shards[n.shard].push(n);
		});
		order.sort(function (a, b) {
			return a - b;
		});
		order.forEach(function (k) {
			var div = el('div', { 'class': 'shard', 'data-shard': k }, [
				el('h3', {}, ['shard ' + k])
			]);

			shards[k].sort(function (a, b) {
				return (a.role === 'primary' ? 0 : 1) - (b.role === 'primary' ? 0 : 1) ||
					a.port - b.port;
			});
			shards[k].forEach(function (n) {
				var addr = n.host + ':' + n.port;
				var s = stepOn(steps, n.id, addr);
				var step = s ? s.state : 'none';

				div.appendChild(el('div', { 'class': 'node', 'data-node': addr,
							    'data-role': n.role, 'data-health': n.health,
							    'data-step': step,
							    title: 'node ' + n.id + (n.flags ? ' (' + n.flags + ')' : '') }, [
					el('span', { 'class': 'node-addr' }, [addr]),
					el('span', { 'class': 'node-role' }, [n.role]),
					el('span', { 'class': 'node-health' }, [n.health]),
					el('span', { 'class': 'heartbeat' }, ['heartbeat ' + fmtAge(n.heartbeat_age_ms)]),
					el('span', { 'class': 'step', 'data-step': step },
					   [s ? 'step ' + step + (s.error ? ': ' + s.error : '') : 'no step']),
					el('span', { 'class': 'build muted' }, [n.build ? 'redis ' + n.build : '']),
					n.hotfix ? el('span', { 'class': 'holds muted' },
						      ['holds ' + n.hotfix.hotfix + ' v' + n.hotfix.version]) : null
				]));
			});
			box.appendChild(div);
		});
		if (!order.length)
			box.appendChild(el('p', { 'class': 'muted' }, ['no topology known yet']));
	}

	/* ---- live ----------------------------------------------------------------- */

	var refreshRun = throttle(loadRun, RUN_REFRESH_MS);
	var refreshRuns = throttle(loadRuns, RUNS_REFRESH_MS);
	var refreshCluster = throttle(loadCluster, CLUSTER_EVENT_MS);

	function setLive(on) {
		st.live = on;
		$('live').setAttribute('data-live', on ? 'on' : 'off');
		$('live').textContent = on ? 'live' : 'offline';
		$('live').title = on ? 'following the journal\'s event stream' :
			'the event stream is not connected: polling every ' + POLL_MS / 1000 + ' s';
	}

	function onEvent(ev) {
		var d;

		try {
			d = JSON.parse(ev.data);
		} catch (e) {
			return;
		}
		if (d.run === st.selected)
			refreshRun();
		/* A step changes what a node holds: the topology shows it soon,
		 * not at the next tick (the cluster is asked at most every 2 s). */
		if (CLUSTER_KINDS[d.kind])
			refreshCluster();
		/* States change and runs appear: the list follows. */
		refreshRuns();
	}

	function connect() {
		var es;

		if (!window.EventSource)
			return;
		/* The cookie carries the token: an EventSource sends no header. */
		es = new EventSource('/api/v1/events', { withCredentials: true });
		es.onopen = function () {
			setLive(true);
			/* What happened while it was away. */
			refreshRuns();
			refreshRun();
		};
		es.onerror = function () {
			setLive(false);   /* it reconnects by itself (retry: 1000) */
		};
		KINDS.forEach(function (k) {
			es.addEventListener(k, onEvent);
		});
	}

	/* ---- start ---------------------------------------------------------------- */

	function start() {
		setLive(false);
		$('btn-pause').addEventListener('click', function () {
			mutate('pause');
		});
		$('btn-continue').addEventListener('click', function () {
			mutate('continue');
		});
		$('btn-abort').addEventListener('click', showConfirm);
		$('confirm-yes').addEventListener('click', function () {
			hideConfirm();
			mutate('abort');
		});
		$('confirm-no').addEventListener('click', hideConfirm);
		document.addEventListener('keydown', function (ev) {
			if (ev.key === 'Escape')
				hideConfirm();
		});
		$('older').addEventListener('click', loadOlder);
		$('logout').addEventListener('click', function () {
			document.cookie = 'hotfix_token=; Path=/; SameSite=Strict; Max-Age=0';
			location.reload();
		});
		window.addEventListener('hashchange', function () {
			var id = hashRun();

			if (id)
				select(id, true);
		});
		window.addEventListener('popstate', function () {
			var id = hashRun();

			if (id)
				select(id, true);
		});
		var wanted = hashRun();

		whoami().then(function () {
			if (wanted)
				select(wanted, true);
			return loadRuns();
		}).then(function () {
			connect();
		});
		loadCluster();
		setInterval(function () {
			if (document.hidden)
				return;
			loadCluster();
			if (!st.live) {
				loadRuns();
				loadRun();
			}
		}, CLUSTER_REFRESH_MS);
	}

	document.addEventListener('DOMContentLoaded', start);
})();
