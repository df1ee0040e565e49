import assert from 'node:assert/strict';
import { test } from 'node:test';
import { contentSecurityPolicy, escapeHtml, makeNonce, renderBar, renderBody, renderShell } from '../src/panelHtml';
import { buildPanelModel, logFraction, logScale, progressText, shortModel } from '../src/panelModel';
import { normalisePayload } from '../src/protocol';
import { candidate, payload } from './fixtures';

test('the current code is the first row; candidates follow in rank order with the server\'s ratio', () => {
  const model = buildPanelModel(payload());
  assert.equal(model.name, 'fib');
  assert.equal(model.fileName, 'fib.py');
  assert.ok(model.current);
  assert.equal(model.current.kind, 'current');
  assert.equal(model.current.label, 'current');
  assert.equal(model.current.ratioText, '');
  assert.equal(model.current.runtimeText, '4.00 ms');
  assert.equal(model.current.runtimeCaption, 'on the 5 tests it passes');
  const summed = buildPanelModel(payload({ current: { ...payload().current!, comparedTests: 5, runtimeComparedNs: 20_000_000 } }));
  assert.equal(summed.current?.runtimeText, '20.00 ms', "the server's sum over the tests it passes, as the candidates' figures");
  assert.equal(summed.current?.runtimeCaption, 'sum of per-test medians on the 5 tests it passes');
  assert.deepEqual(model.rows.map((r) => r.id), ['c1', 'c2']);
  const [best, second] = model.rows;
  assert.equal(best.testsText, '5/5 tests');
  assert.equal(best.ratioText, '4.0× faster', 'the payload\'s ratioText, as sent');
  assert.equal(best.preferred, true);
  assert.equal(best.runtimeText, '5.00 ms', 'the compared runtime, not the mean');
  assert.equal(best.currentRuntimeText, '20.00 ms');
  assert.equal(best.runtimeCaption, 'sum of per-test medians on the 5 tests both pass');
  assert.equal(best.noiseText, '± 10.0 µs');
  assert.equal(best.memoryText, '2.0 MiB');
  assert.equal(second.preferred, false);
  assert.equal(second.failsCurrentTests, true);
  assert.equal(second.ratioText, '', 'a candidate failing the current code\'s tests is never called faster');
  assert.equal(model.verdict, '#1 is 4.0× faster than the current code');
  assert.equal(model.verdictKind, 'preferred');
});

test('the ratio shown is never recomputed from other fields', () => {
  const p = payload({
    candidates: [candidate({ ratioText: '≈ same', tie: true, speedup: 1.02, speedupVsCurrent: 87, preferred: false })],
    verdict: 'the current code stays best: no candidate is faster beyond noise while passing its tests',
  });
  const model = buildPanelModel(p);
  assert.equal(model.rows[0].ratioText, '≈ same');
  assert.equal(model.rows[0].tie, true);
  assert.equal(model.verdictKind, 'current');
  const html = renderBody(model);
  assert.ok(!html.includes('87'), 'speedupVsCurrent is not shown');
  assert.match(html, /within noise/);
  assert.match(html, /the current code stays best/);
  assert.match(html, /class="card current best"/);
  assert.match(html, /stays best/);
  assert.ok(!/class="card candidate preferred"/.test(html), 'no green card');
  assert.ok(!/class="accept"/.test(html), 'no primary Accept: every Accept is secondary');
  assert.match(html, /class="accept secondary"/);
});

test('preferred only per payload.preferred: green, bordered, primary Accept there alone', () => {
  const html = renderBody(buildPanelModel(payload()));
  assert.equal((html.match(/class="card candidate preferred"/g) ?? []).length, 1);
  assert.match(html, /data-candidate-id="c1" data-preferred="true"/);
  assert.equal((html.match(/class="accept"/g) ?? []).length, 1);
  assert.match(html, /<button class="accept" data-accept="c1"/);
  assert.match(html, /<button class="accept secondary" data-accept="c2"/);
  assert.match(html, /ratio-text good">4\.0× faster/);
  assert.match(html, /fails tests the current code passes/);
});

test('a stub: no baseline, said so; no current row', () => {
  const p = payload({
    current: null,
    baseline: 'none',
    verdict: 'no baseline: the function is a stub; #1 passes 5/5 tests',
    candidates: [candidate({ ratioText: '', speedup: null, comparedTests: 0, runtimeComparedNs: null, currentRuntimeComparedNs: null })],
  });
  const model = buildPanelModel(p);
  assert.equal(model.current, null);
  assert.equal(model.baseline, 'none');
  assert.equal(model.rows[0].runtimeText, '1.00 ms');
  assert.equal(model.rows[0].runtimeCaption, 'on the tests it passes');
  assert.match(renderBody(model), /no baseline: the function is a stub/);
  const old = buildPanelModel({ ...p, verdict: '', candidates: [candidate({ preferred: false })] });
  assert.equal(old.verdict, 'No baseline: the function is a stub.');
  assert.equal(old.verdictKind, 'none');
});

test('runtime bars: a labelled log scale with ± noise and the current code marked', () => {
  const scale = logScale([850, 1.7e9, null, 0]);
  assert.ok(scale);
  assert.equal(scale.low, 100);
  assert.equal(scale.high, 1e10);
  assert.equal(scale.ticks.length, 9);
  assert.equal(scale.caption, 'log scale, 100 ns to 10.00 s');
  // A 2× difference next to a 138× outlier is still visible.
  const s2 = logScale([1e6, 2e6, 138e6]);
  assert.ok(s2);
  const gap = logFraction(2e6, s2) - logFraction(1e6, s2);
  assert.ok(gap > 0.1, `2× is ${gap} of the width`);
  const model = buildPanelModel(payload());
  const best = model.rows[0];
  assert.ok(best.runtime.band);
  assert.ok(best.runtime.band[0] < best.runtime.fraction && best.runtime.fraction < best.runtime.band[1]);
  assert.ok(best.runtime.reference !== null && best.runtime.reference > best.runtime.fraction);
  assert.equal(best.runtime.label, 'current 20.00 ms');
  const html = renderBody(model);
  assert.match(html, /Runtime bars: log scale, 1.00 ms to 100.00 ms/);
  assert.match(html, /class="noise"/);
  assert.match(html, /class="tick"/);
  assert.match(html, /± 10\.0 µs/);
});

test('progress: the server\'s one line, once; never "Model unknown"', () => {
  const running = payload({
    running: true,
    stopped: null,
    model: 'scripted @ http://127.0.0.1:9/v1',
    progress: { round: 1, rounds: 2, llmCalls: 6, maxCalls: 30, candidates: 4, message: 'round 1/2 · 6/30 calls · best so far #1 4.0× faster' },
  });
  assert.equal(progressText(running), 'round 1/2 · 6/30 calls · best so far #1 4.0× faster');
  const html = renderBody(buildPanelModel(running));
  assert.equal((html.match(/6\/30 calls/g) ?? []).length, 1, 'the progress line appears once');
  assert.match(html, /Model <code>scripted<\/code>/);
  assert.ok(!html.includes('http://127.0.0.1:9'), 'the endpoint URL stays out of the panel');
  const fallback = payload({ running: true, stopped: null, progress: { round: 1, rounds: 2, llmCalls: 6, maxCalls: 30, candidates: 4, message: '' } });
  assert.equal(progressText(fallback), 'Round 1/2 · 6/30 model calls · 4 candidates tested');
  assert.equal(progressText(payload({ running: true, stopped: null, progress: null })), 'Search starting…');
  assert.equal(progressText(payload()), 'Search completed · 2 candidates');
  const unknown = renderBody(buildPanelModel(payload({ model: '' })));
  assert.ok(!/unknown/i.test(unknown));
  assert.equal(shortModel('qwen @ http://h/v1'), 'qwen');
  assert.equal(shortModel('local'), 'local');
  const model = buildPanelModel(running);
  assert.ok(model.progressFraction !== null && model.progressFraction > 0 && model.progressFraction < 1);
});

test('"0 candidates" comes with the payload\'s reason', () => {
  const p = payload({ candidates: [], stopped: 'completed', emptyReason: 'every model reply lacked a code block', verdict: 'the current code stays best: no candidate ran' });
  const html = renderBody(buildPanelModel(p));
  assert.match(html, /0 candidates: every model reply lacked a code block/);
  assert.match(buildPanelModel(payload({ candidates: [], emptyReason: null })).emptyText, /^0 candidates \(the server gave no reason\)\.$/);
  const running = renderBody(buildPanelModel(payload({ running: true, stopped: null, candidates: [] })));
  assert.match(running, /Cancel search/);
  assert.match(running, /Waiting for the first tested candidate/);
});

test('cards fit narrow panels: a wrapping grid, wrapping diffs and failures, no fixed 300 px', () => {
  const html = renderShell(renderBody(buildPanelModel(payload())), 'n'.repeat(32), 'vscode-webview://x', 'ORPS: fib');
  assert.ok(!/flex: 0 0 300px/.test(html));
  assert.match(html, /grid-template-columns: repeat\(auto-fill, minmax\(min\(100%, 280px\), 1fr\)\)/);
  assert.match(html, /pre\.diff \.line \{ white-space: pre-wrap; overflow-wrap: anywhere;/);
  assert.match(html, /\.failures pre \{ white-space: pre-wrap; overflow-wrap: anywhere;/);
  assert.match(html, /\.card header \{ display: flex; flex-wrap: wrap;/);
  assert.ok(!/overflow-x: auto/.test(html), 'nothing scrolls sideways');
});

test('a notice from the extension is shown (restart, accept)', () => {
  const html = renderBody(buildPanelModel(payload({ stopped: 'restored' }), 'The orps server restarted; these results were restored.'));
  assert.match(html, /class="notice">The orps server restarted/);
  assert.match(html, /Restored after a server restart · 2 candidates/);
});

test('the body escapes code; the shell has a strict CSP with a nonce', () => {
  const p = payload();
  p.candidates[0].code = 'def fib(n):\n    return "<script>alert(1)</script>"\n';
  const html = renderBody(buildPanelModel(p));
  assert.equal((html.match(/data-accept="/g) ?? []).length, 2);
  assert.ok(!html.includes('<script>alert'));
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  const nonce = makeNonce((n) => new Uint8Array(n).fill(5));
  assert.equal(nonce.length, 32);
  const shell = renderShell('<p>x</p>', nonce, 'vscode-webview://abc', 'ORPS: fib');
  const csp = contentSecurityPolicy(nonce, 'vscode-webview://abc');
  assert.ok(shell.includes(`content="${csp}"`));
  assert.match(csp, /default-src 'none'/);
  assert.ok(!csp.includes('unsafe-inline'));
  assert.ok(!/https?:\/\//.test(shell.replace(/http-equiv/g, '')));
  assert.equal((shell.match(new RegExp(`nonce="${nonce}"`, 'g')) ?? []).length, 2);
  assert.ok(!/ style="/.test(shell), 'no inline style attributes: the CSP forbids them');
});

test('bars are SVG with the fill, the noise band and the current mark', () => {
  const svg = renderBar({ fraction: 0.25, reference: 0.5, band: [0.2, 0.3], label: 'current 2 ms' }, 'runtime', [0, 0.5, 1]);
  assert.match(svg, /class="fill" x="0" y="2" width="25"/);
  assert.match(svg, /class="noise" x="20" y="0" width="10"/);
  assert.match(svg, /class="ref" x1="50"/);
  assert.equal((svg.match(/class="tick"/g) ?? []).length, 3);
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('malformed or older payloads are completed', () => {
  assert.equal(normalisePayload(null), undefined);
  assert.equal(normalisePayload({ name: 'f' }), undefined);
  const p = normalisePayload({ uri: 'file:///a.py', name: 'f', futureField: 1, candidates: [{ id: 'x', code: 'def f(): pass', currentTestsFailed: 2 }] });
  assert.ok(p);
  assert.equal((p as unknown as { futureField: number }).futureField, 1, 'unknown fields survive for orps/restore');
  assert.equal((p.candidates[0] as unknown as { currentTestsFailed: number }).currentTestsFailed, 2);
  assert.equal(p.candidates[0].runtimeNs, null);
  assert.equal(p.candidates[0].preferred, false);
  assert.equal(p.candidates[0].ratioText, '');
  assert.equal(p.baseline, 'none');
  assert.equal(p.verdict, '');
  assert.equal(p.emptyReason, null);
  assert.deepEqual(p.testSources, []);
});
