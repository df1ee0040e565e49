/**
 * The comparison panel's HTML: a shell with a strict Content-Security-Policy (no remote
 * resources, one nonce for the inline style and script) and the body rendered from a
 * `PanelModel`.
 *
 * Updates re-render only the body: the shell's script swaps it in place and keeps the open diffs
 * and the scroll position, so live `orps/candidates` updates do not make the panel jump. Bars are
 * SVG (attributes, not inline styles, so the CSP needs no 'unsafe-inline'). Colours come from the
 * theme's `--vscode-*` variables.
 */

import { DiffLine } from './diff';
import { Bar, CandidateRow, Figures, PanelModel } from './panelModel';

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function contentSecurityPolicy(nonce: string, cspSource: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

function pct(fraction: number): string {
  return (Math.round(fraction * 1000) / 10).toString();
}

export function renderBar(bar: Bar, kind: 'tests' | 'runtime' | 'memory'): string {
  const reference =
    bar.reference === null
      ? ''
      : `<line class="ref" x1="${pct(bar.reference)}" x2="${pct(bar.reference)}" y1="0" y2="8" vector-effect="non-scaling-stroke"/>`;
  return (
    `<svg class="bar ${kind}" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" ` +
    `aria-label="${escapeHtml(bar.label)}">` +
    `<rect class="track" x="0" y="0" width="100" height="8"/>` +
    `<rect class="fill" x="0" y="0" width="${pct(bar.fraction)}" height="8"/>` +
    `${reference}</svg>`
  );
}

function metric(name: string, value: string, bar: Bar, kind: 'tests' | 'runtime' | 'memory'): string {
  return (
    `<div class="metric" data-metric="${kind}">` +
    `<span class="name">${name}</span>` +
    `<span class="value">${escapeHtml(value)}</span>` +
    `${renderBar(bar, kind)}` +
    `<span class="ratio">${escapeHtml(bar.label)}</span>` +
    `</div>`
  );
}

function renderFigures(f: Figures): string {
  return (
    `<div class="figures">` +
    metric('Tests', f.testsText, f.tests, 'tests') +
    metric('Runtime', f.runtimeText, f.runtime, 'runtime') +
    metric('Memory', f.memoryText, f.memory, 'memory') +
    `</div>`
  );
}

export function renderDiff(lines: DiffLine[]): string {
  const rows = lines.map((line) => {
    const sign = line.kind === 'added' ? '+' : line.kind === 'removed' ? '-' : ' ';
    return `<div class="line ${line.kind}"><span class="sign">${sign}</span><span class="text">${escapeHtml(line.text) || ' '}</span></div>`;
  });
  return `<pre class="diff">${rows.join('')}</pre>`;
}

/** Execution statuses that need no badge: the tests' count says it all. */
const QUIET_STATUSES = new Set(['completed', 'passed']);

function renderCandidate(row: CandidateRow, first: boolean): string {
  const badges = [
    row.passesAll ? '<span class="badge ok">passes all</span>' : '<span class="badge bad">fails tests</span>',
    row.sameAsCurrent ? '<span class="badge">same as current</span>' : '',
    row.status && !QUIET_STATUSES.has(row.status)
      ? `<span class="badge bad">${escapeHtml(row.status.replace(/_/g, ' '))}</span>`
      : '',
  ].join('');
  const failures = row.failures.length
    ? `<details class="failures"><summary>${row.failures.length} failure${row.failures.length === 1 ? '' : 's'}</summary><pre>${escapeHtml(row.failures.join('\n\n'))}</pre></details>`
    : '';
  const reasoning = row.reasoning
    ? `<details class="reasoning"><summary>Reasoning</summary><p>${escapeHtml(row.reasoning)}</p></details>`
    : '';
  return (
    `<section class="card candidate${first ? ' best' : ''}" data-candidate-id="${escapeHtml(row.id)}">` +
    `<header><span class="rank">#${row.rank}</span>` +
    `<span class="speedup">${escapeHtml(row.speedupText)}</span>` +
    `<button class="accept" data-accept="${escapeHtml(row.id)}" title="Replace the function with this candidate">Accept</button>` +
    `</header>` +
    `<div class="badges">${badges}</div>` +
    renderFigures(row) +
    `<details class="code" data-key="diff-${escapeHtml(row.id)}"${first ? ' open' : ''}>` +
    `<summary>Diff against current <span class="stats"><span class="plus">+${row.diffStats.added}</span> <span class="minus">−${row.diffStats.removed}</span></span></summary>` +
    renderDiff(row.diff) +
    `</details>` +
    reasoning +
    failures +
    `</section>`
  );
}

export function renderBody(model: PanelModel): string {
  const progress =
    model.progressFraction === null
      ? '<div class="progress indeterminate"></div>'
      : `<svg class="progress" viewBox="0 0 100 2" preserveAspectRatio="none"><rect class="fill" x="0" y="0" width="${pct(model.progressFraction)}" height="2"/></svg>`;
  const sources = model.testSources.length
    ? ` from ${model.testSources.map(escapeHtml).join(', ')}`
    : '';
  const current = model.current
    ? `<section class="card current"><header><span class="rank">current</span></header>${renderFigures(model.current)}` +
      `<details class="code" data-key="current-code"><summary>Code</summary><pre class="diff">${escapeHtml(model.currentCode)}</pre></details></section>`
    : '';
  const cards = model.rows.map((row, i) => renderCandidate(row, i === 0)).join('');
  const empty =
    model.rows.length === 0
      ? `<p class="empty">${model.running ? 'Waiting for the first tested candidate…' : 'No candidates.'}</p>`
      : '';
  const cancel = model.running ? '<button class="secondary" data-action="cancel">Cancel search</button>' : '';
  return (
    `<div class="summary" data-running="${model.running}">` +
    `<h1><code>${escapeHtml(model.name)}</code> <span class="file">${escapeHtml(model.fileName)}</span></h1>` +
    `<p class="status">${model.running ? '<span class="spinner"></span>' : ''}<span class="status-text">${escapeHtml(model.statusText)}</span>${cancel}</p>` +
    `<p class="meta">Model <code>${escapeHtml(model.model || 'unknown')}</code> · ${model.testsTotal} test${model.testsTotal === 1 ? '' : 's'}${sources}</p>` +
    progress +
    `</div>` +
    empty +
    `<div class="cards">${current}${cards}</div>`
  );
}

const STYLE = `
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); background: var(--vscode-editor-background); padding: 0 12px 12px; }
h1 { font-size: 1.2em; font-weight: 600; margin: 12px 0 4px; }
h1 .file { font-weight: normal; color: var(--vscode-descriptionForeground); font-size: 0.85em; margin-left: 6px; }
code, pre { font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
.status, .meta { margin: 2px 0; color: var(--vscode-descriptionForeground); }
.status { display: flex; gap: 8px; align-items: center; }
.meta code { overflow-wrap: anywhere; }
.status-text { color: var(--vscode-foreground); }
svg.progress { width: 100%; height: 3px; display: block; margin: 6px 0 10px; }
svg.progress .fill { fill: var(--vscode-progressBar-background); }
div.progress.indeterminate { height: 3px; margin: 6px 0 10px; background: var(--vscode-progressBar-background); opacity: 0.5; }
.spinner { width: 10px; height: 10px; border-radius: 50%; border: 2px solid var(--vscode-progressBar-background); border-right-color: transparent; animation: spin 1s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
.cards { display: flex; gap: 10px; overflow-x: auto; align-items: flex-start; padding-bottom: 8px; }
.card { flex: 0 0 300px; min-width: 0; border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent)); border-radius: 4px; padding: 8px 10px; background: var(--vscode-sideBar-background, var(--vscode-editor-background)); }
.card.best { border-color: var(--vscode-focusBorder); }
.card.current { background: var(--vscode-editor-inactiveSelectionBackground, var(--vscode-editor-background)); }
.card header { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; }
.rank { font-weight: 600; font-size: 1.1em; }
.speedup { color: var(--vscode-charts-green); flex: 1; }
button { font-family: inherit; font-size: inherit; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: 1px solid var(--vscode-button-border, transparent); border-radius: 2px; padding: 3px 10px; cursor: pointer; }
button:hover { background: var(--vscode-button-hoverBackground); }
button:disabled { opacity: 0.5; cursor: default; }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
button.secondary:hover { background: var(--vscode-button-secondaryHoverBackground); }
.badges { display: flex; gap: 4px; flex-wrap: wrap; margin-bottom: 6px; }
.badge { font-size: 0.85em; padding: 0 6px; border-radius: 8px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
.badge.ok { background: var(--vscode-testing-iconPassed, var(--vscode-charts-green)); color: var(--vscode-editor-background); }
.badge.bad { background: var(--vscode-testing-iconFailed, var(--vscode-charts-red)); color: var(--vscode-editor-background); }
.figures { display: grid; grid-template-columns: auto auto 1fr auto; gap: 3px 8px; align-items: center; margin-bottom: 6px; }
.metric { display: contents; }
.metric .name { color: var(--vscode-descriptionForeground); }
.metric .value { font-variant-numeric: tabular-nums; text-align: right; }
.metric .ratio { font-size: 0.85em; color: var(--vscode-descriptionForeground); font-variant-numeric: tabular-nums; }
svg.bar { width: 100%; height: 8px; display: block; }
svg.bar .track { fill: var(--vscode-input-background, rgba(128,128,128,0.15)); }
svg.bar.tests .fill { fill: var(--vscode-charts-green); }
svg.bar.runtime .fill { fill: var(--vscode-charts-blue); }
svg.bar.memory .fill { fill: var(--vscode-charts-purple); }
svg.bar .ref { stroke: var(--vscode-foreground); stroke-width: 2; }
details summary { cursor: pointer; color: var(--vscode-textLink-foreground); margin: 4px 0; }
.stats .plus { color: var(--vscode-gitDecoration-addedResourceForeground, var(--vscode-charts-green)); }
.stats .minus { color: var(--vscode-gitDecoration-deletedResourceForeground, var(--vscode-charts-red)); }
pre.diff { margin: 0; padding: 4px 0; overflow-x: auto; background: var(--vscode-textCodeBlock-background, var(--vscode-editor-background)); }
pre.diff .line { white-space: pre; padding: 0 6px; }
pre.diff .line.added { background: var(--vscode-diffEditor-insertedLineBackground, var(--vscode-diffEditor-insertedTextBackground)); }
pre.diff .line.removed { background: var(--vscode-diffEditor-removedLineBackground, var(--vscode-diffEditor-removedTextBackground)); }
pre.diff .sign { display: inline-block; width: 1.2em; color: var(--vscode-descriptionForeground); user-select: none; }
.reasoning p { white-space: pre-wrap; margin: 0; }
.failures pre { white-space: pre-wrap; color: var(--vscode-errorForeground); }
.empty { color: var(--vscode-descriptionForeground); }
`;

/** The script inside the webview: swaps in new bodies keeping open <details> and scroll, and
 * turns clicks on Accept and Cancel into messages for the extension. */
const SCRIPT = `
(function () {
  const vscode = acquireVsCodeApi();
  const root = document.getElementById('root');
  function openKeys() {
    const keys = new Set();
    root.querySelectorAll('details[data-key]').forEach(function (d) { if (d.open) { keys.add(d.dataset.key); } });
    return keys;
  }
  window.addEventListener('message', function (event) {
    const msg = event.data;
    if (!msg || msg.type !== 'render') { return; }
    const keys = openKeys();
    const scrollers = Array.from(root.querySelectorAll('.cards')).map(function (c) { return c.scrollLeft; });
    root.innerHTML = msg.html;
    root.querySelectorAll('details[data-key]').forEach(function (d) {
      if (keys.has(d.dataset.key)) { d.open = true; }
    });
    root.querySelectorAll('.cards').forEach(function (c, i) { if (scrollers[i]) { c.scrollLeft = scrollers[i]; } });
  });
  root.addEventListener('click', function (event) {
    const target = event.target.closest('button');
    if (!target) { return; }
    if (target.dataset.accept) {
      target.disabled = true;
      target.textContent = 'Applying…';
      vscode.postMessage({ type: 'accept', candidateId: target.dataset.accept });
    } else if (target.dataset.action === 'cancel') {
      vscode.postMessage({ type: 'cancel' });
    }
  });
  vscode.postMessage({ type: 'ready' });
})();
`;

export function renderShell(body: string, nonce: string, cspSource: string, title: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(nonce, cspSource)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<div id="root">${body}</div>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>`;
}

/** A nonce for the CSP: 32 characters from a cryptographic source. */
export function makeNonce(randomBytes: (size: number) => Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(32), (b) => alphabet[b % alphabet.length]).join('');
}
