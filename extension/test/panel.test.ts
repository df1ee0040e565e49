import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentSecurityPolicy, escapeHtml, makeNonce, renderBar, renderBody, renderShell } from '../src/panelHtml';
import { buildPanelModel, measureBar, progressText } from '../src/panelModel';
import { normalisePayload } from '../src/protocol';
import { candidate, payload } from './fixtures';

test('rows are ranked with figures relative to the current implementation', () => {
  const model = buildPanelModel(payload());
  assert.equal(model.name, 'fib');
  assert.equal(model.fileName, 'fib.py');
  assert.deepEqual(model.rows.map((r) => r.id), ['c1', 'c2']);
  const [best, second] = model.rows;
  assert.equal(best.testsText, '5/5 tests');
  assert.equal(best.runtimeText, '1 ms');
  assert.equal(best.memoryText, '2 MB');
  assert.equal(best.speedupText, '4× faster');
  assert.equal(best.passesAll, true);
  assert.equal(second.passesAll, false);
  assert.equal(second.speedupText, '2× slower');
  // Runtime scale: the slowest (8 ms) fills the bar; current (4 ms) is the marker.
  assert.equal(best.runtime.fraction, 1 / 8);
  assert.equal(best.runtime.reference, 0.5);
  assert.equal(best.runtime.ratio, 0.25);
  assert.equal(best.runtime.label, '0.25× current');
  assert.equal(second.runtime.fraction, 1);
  assert.equal(second.runtime.label, '2.00× current');
  assert.equal(second.memory.label, '1.50× current');
  assert.equal(best.tests.fraction, 1);
  assert.equal(second.tests.fraction, 0.8);
  assert.equal(second.tests.reference, 1);
  assert.ok(model.current);
  assert.equal(model.current.speedupText, 'current');
  assert.equal(model.current.runtime.label, '1.00× current');
});

test('each row carries a diff against the current code', () => {
  const model = buildPanelModel(payload());
  const [best, second] = model.rows;
  assert.equal(best.diff[0].kind, 'same');
  assert.deepEqual(best.diffStats, { added: 4, removed: 3 });
  assert.deepEqual(second.diffStats, { added: 1, removed: 1 });
  const same = buildPanelModel(payload({ candidates: [candidate({ code: payload().currentCode })] }));
  assert.equal(same.rows[0].sameAsCurrent, true);
});

test('rank order wins over arrival order, and missing figures do not break bars', () => {
  const p = payload({
    current: null,
    candidates: [candidate({ id: 'b', rank: 2 }), candidate({ id: 'a', rank: 1, runtimeNs: null, peakMemoryBytes: null })],
  });
  const model = buildPanelModel(p);
  assert.deepEqual(model.rows.map((r) => r.id), ['a', 'b']);
  assert.equal(model.rows[0].runtime.fraction, 0);
  assert.equal(model.rows[0].runtime.label, '');
  assert.equal(model.rows[0].runtimeText, '—');
  assert.equal(model.current, null);
});

test('measureBar clamps and handles an empty scale', () => {
  assert.deepEqual(measureBar(5, 10, 10), { fraction: 0.5, reference: 1, ratio: 0.5, label: '0.50× current' });
  assert.deepEqual(measureBar(null, null, 0), { fraction: 0, reference: null, ratio: null, label: '' });
  assert.equal(measureBar(40, 2, 10).label, '20× current');
});

test('the progress line follows the search', () => {
  const running = payload({
    running: true,
    stopped: null,
    progress: { round: 1, rounds: 2, llmCalls: 6, maxCalls: 30, candidates: 4, message: 'best 1 ms' },
  });
  assert.equal(progressText(running), 'Round 1/2 · 6/30 model calls · 4 candidates tested · best 1 ms');
  assert.equal(progressText(payload({ running: true, stopped: null, progress: null })), 'Search starting…');
  assert.equal(progressText(payload()), 'Search completed · 2 candidates');
  assert.equal(progressText(payload({ stopped: 'cancelled', candidates: [] })), 'Cancelled · 0 candidates');
  const model = buildPanelModel(running);
  assert.ok(model.progressFraction !== null && model.progressFraction > 0 && model.progressFraction < 1);
});

test('the body has an Accept button per candidate, bars, and escaped code', () => {
  const p = payload();
  p.candidates[0].code = 'def fib(n):\n    return "<script>alert(1)</script>"\n';
  const html = renderBody(buildPanelModel(p));
  assert.equal((html.match(/data-accept="/g) ?? []).length, 2);
  assert.match(html, /data-accept="c1"/);
  assert.ok(!html.includes('<script>alert'));
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.match(html, /<rect class="fill" x="0" y="0" width="12.5" height="8"\/>/);
  assert.match(html, /0\.25× current/);
  assert.match(html, /Search completed/);
  assert.ok(!html.includes('Cancel search'));
  const running = renderBody(buildPanelModel(payload({ running: true, stopped: null, candidates: [] })));
  assert.match(running, /Cancel search/);
  assert.match(running, /Waiting for the first tested candidate/);
});

test('the shell has a strict CSP with a nonce and no remote resources', () => {
  const nonce = makeNonce((n) => new Uint8Array(n).fill(5));
  assert.equal(nonce.length, 32);
  const html = renderShell('<p>x</p>', nonce, 'vscode-webview://abc', 'ORPS: fib');
  const csp = contentSecurityPolicy(nonce, 'vscode-webview://abc');
  assert.ok(html.includes(`content="${csp}"`));
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'nonce-/);
  assert.ok(!csp.includes('unsafe-inline'));
  assert.ok(!/https?:\/\//.test(html.replace(/http-equiv/g, '')));
  assert.equal((html.match(new RegExp(`nonce="${nonce}"`, 'g')) ?? []).length, 2);
  assert.ok(!/ style="/.test(html), 'no inline style attributes: the CSP forbids them');
  assert.match(html, /var\(--vscode-editor-background\)/);
});

test('bars are SVG with a marker at the current value', () => {
  const svg = renderBar({ fraction: 0.25, reference: 0.5, ratio: 0.5, label: '0.50× current' }, 'runtime');
  assert.match(svg, /width="25"/);
  assert.match(svg, /x1="50"/);
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('malformed payloads are rejected or completed', () => {
  assert.equal(normalisePayload(null), undefined);
  assert.equal(normalisePayload({ name: 'f' }), undefined);
  const p = normalisePayload({ uri: 'file:///a.py', name: 'f', candidates: [{ id: 'x', code: 'def f(): pass' }] });
  assert.ok(p);
  assert.equal(p.candidates[0].runtimeNs, null);
  assert.equal(p.candidates[0].testsPassed, 0);
  assert.deepEqual(p.testSources, []);
});
