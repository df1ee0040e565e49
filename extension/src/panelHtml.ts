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
import { Bar, PanelModel, Row } from './panelModel';

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

export type BarKind = 'tests' | 'runtime' | 'memory';

/** An SVG bar: the fill, the ± noise band, decade ticks (log scale) and the current code's mark. */
export function renderBar(bar: Bar, kind: BarKind, ticks: number[] = []): string {
  const reference =
    bar.reference === null
      ? ''
      : `<line class="ref" x1="${pct(bar.reference)}" x2="${pct(bar.reference)}" y1="0" y2="10" vector-effect="non-scaling-stroke"/>`;
  const band =
    bar.band === null
      ? ''
      : `<rect class="noise" x="${pct(bar.band[0])}" y="0" width="${pct(Math.max(0.004, bar.band[1] - bar.band[0]))}" height="10"/>`;
  const tickLines = ticks
    .map((t) => `<line class="tick" x1="${pct(t)}" x2="${pct(t)}" y1="7" y2="10" vector-effect="non-scaling-stroke"/>`)
    .join('');
  return (
    `<svg class="bar ${kind}" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" ` +
    `aria-label="${escapeHtml(bar.label)}">` +
    `<rect class="track" x="0" y="0" width="100" height="10"/>` +
    `<rect class="fill" x="0" y="2" width="${pct(bar.fraction)}" height="6"/>` +
    `${band}${tickLines}${reference}</svg>`
  );
}

function metric(name: string, value: string, detail: string, bar: Bar, kind: BarKind, ticks: number[] = []): string {
  return (
    `<div class="metric" data-metric="${kind}">` +
    `<div class="metric-head"><span class="name">${name}</span>` +
    `<span class="value">${escapeHtml(value)}</span>` +
    (detail ? `<span class="detail">${escapeHtml(detail)}</span>` : '') +
    `</div>` +
    `${renderBar(bar, kind, ticks)}` +
    (bar.label ? `<span class="ratio">${escapeHtml(bar.label)}</span>` : '') +
    `</div>`
  );
}

function renderFigures(row: Row, model: PanelModel): string {
  const scale = model.runtimeScale;
  return (
    `<div class="figures">` +
    metric('Tests', row.testsText, '', row.tests, 'tests') +
    metric('Runtime', row.runtimeText, row.noiseText, row.runtime, 'runtime', scale?.ticks ?? []) +
    `<p class="caption" data-caption="runtime">${escapeHtml(row.runtimeCaption)}</p>` +
    metric('Memory', row.memoryText, 'peak', row.memory, 'memory') +
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

function renderCandidate(row: Row, model: PanelModel): string {
  const badges = [
    row.preferred ? '<span class="badge ok">preferred</span>' : '',
    row.passesAll ? '<span class="badge ok">passes all</span>' : '<span class="badge bad">fails tests</span>',
    row.failsCurrentTests ? '<span class="badge bad">fails tests the current code passes</span>' : '',
    row.tie ? '<span class="badge">within noise</span>' : '',
    row.sameAsCurrent ? '<span class="badge">same as current</span>' : '',
    row.status && !QUIET_STATUSES.has(row.status)
      ? `<span class="badge bad">${escapeHtml(row.status.replace(/_/g, ' '))}</span>`
      : '',
  ].join('');
  const failures = row.failures.length
    ? `<details class="failures" data-key="failures-${escapeHtml(row.id)}"><summary>${row.failures.length} failure${row.failures.length === 1 ? '' : 's'}</summary><pre>${escapeHtml(row.failures.join('\n\n'))}</pre></details>`
    : '';
  const reasoning = row.reasoning
    ? `<details class="reasoning" data-key="reasoning-${escapeHtml(row.id)}"><summary>Reasoning</summary><p>${escapeHtml(row.reasoning)}</p></details>`
    : '';
  const accept = `<button class="accept${row.preferred ? '' : ' secondary'}" data-accept="${escapeHtml(row.id)}" title="Replace the function's body with this candidate">Accept</button>`;
  const ratioClass = row.preferred ? 'ratio-text good' : 'ratio-text';
  return (
    `<section class="card candidate${row.preferred ? ' preferred' : ''}" data-candidate-id="${escapeHtml(row.id)}" data-preferred="${row.preferred}">` +
    `<header><span class="rank">${escapeHtml(row.label)}</span>` +
    `<span class="${ratioClass}">${escapeHtml(row.ratioText)}</span>` +
    accept +
    `</header>` +
    `<div class="badges">${badges}</div>` +
    renderFigures(row, model) +
    `<details class="code" data-key="diff-${escapeHtml(row.id)}"${row.preferred ? ' open' : ''}>` +
    `<summary>Diff against current <span class="stats"><span class="plus">+${row.diffStats.added}</span> <span class="minus">−${row.diffStats.removed}</span></span></summary>` +
    renderDiff(row.diff) +
    `</details>` +
    reasoning +
    failures +
    `</section>`
  );
}

function renderCurrent(row: Row, model: PanelModel): string {
  const stays = model.verdictKind === 'current' ? '<span class="badge ok">stays best</span>' : '';
  return (
    `<section class="card current${model.verdictKind === 'current' ? ' best' : ''}" data-candidate-id="current">` +
    `<header><span class="rank">current code</span><span class="ratio-text"></span></header>` +
    `<div class="badges">${stays}${row.passesAll ? '<span class="badge ok">passes all</span>' : '<span class="badge bad">fails tests</span>'}</div>` +
    renderFigures(row, model) +
    `<details class="code" data-key="current-code"><summary>Code</summary><pre class="diff plain">${escapeHtml(model.currentCode)}</pre></details>` +
    `</section>`
  );
}

export function renderBody(model: PanelModel): string {
  const progress =
    model.progressFraction === null
      ? '<div class="progress indeterminate"></div>'
      : `<svg class="progress" viewBox="0 0 100 2" preserveAspectRatio="none"><rect class="fill" x="0" y="0" width="${pct(model.progressFraction)}" height="2"/></svg>`;
  const sources = model.testSources.length ? ` from ${model.testSources.map(escapeHtml).join(', ')}` : '';
  const modelText = model.model ? `Model <code>${escapeHtml(model.model)}</code> · ` : '';
  const current = model.current ? renderCurrent(model.current, model) : '';
  const cards = model.rows.map((row) => renderCandidate(row, model)).join('');
  const empty =
    model.rows.length === 0
      ? `<p class="empty">${escapeHtml(model.running ? 'Waiting for the first tested candidate…' : model.emptyText)}</p>`
      : '';
  const cancel = model.running ? '<button class="secondary" data-action="cancel">Cancel search</button>' : '';
  const verdict = model.verdict
    ? `<p class="verdict ${model.verdictKind}" data-verdict="${model.verdictKind}">${escapeHtml(model.verdict)}</p>`
    : '';
  const notice = model.notice ? `<p class="notice">${escapeHtml(model.notice)}</p>` : '';
  const scale = model.runtimeScale
    ? `<p class="meta legend">Runtime bars: ${escapeHtml(model.runtimeScale.caption)} (ticks at each power of ten); the vertical mark is the current code on the same tests, the shaded band ± noise.</p>`
    : '';
  return (
    `<div class="summary" data-running="${model.running}">` +
    `<h1><code>${escapeHtml(model.name)}</code> <span class="file">${escapeHtml(model.fileName)}</span></h1>` +
    `<p class="status">${model.running ? '<span class="spinner"></span>' : ''}<span class="status-text">${escapeHtml(model.statusText)}</span>${cancel}</p>` +
    verdict +
    notice +
    `<p class="meta">${modelText}${model.testsTotal} test${model.testsTotal === 1 ? '' : 's'}${sources}</p>` +
    scale +
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
.cards { display: grid; gap: 10px; grid-template-columns: repeat(auto-fill, minmax(min(100%, 280px), 1fr)); align-items: start; padding-bottom: 8px; }
.card { min-width: 0; overflow-wrap: anywhere; border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent)); border-radius: 4px; padding: 8px 10px; background: var(--vscode-sideBar-background, var(--vscode-editor-background)); }
.card.preferred { border: 2px solid var(--vscode-testing-iconPassed, var(--vscode-charts-green)); }
.card.current.best { border: 2px solid var(--vscode-focusBorder); }
.card.current { background: var(--vscode-editor-inactiveSelectionBackground, var(--vscode-editor-background)); }
.card header { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 8px; margin-bottom: 6px; }
.rank { font-weight: 600; font-size: 1.1em; }
.ratio-text { flex: 1; min-width: 6em; }
.ratio-text.good { color: var(--vscode-testing-iconPassed, var(--vscode-charts-green)); font-weight: 600; }
.verdict { margin: 6px 0; padding: 4px 8px; border-left: 3px solid var(--vscode-focusBorder); color: var(--vscode-foreground); }
.verdict.preferred { border-left-color: var(--vscode-testing-iconPassed, var(--vscode-charts-green)); }
.verdict.none { border-left-color: var(--vscode-editorWarning-foreground, var(--vscode-focusBorder)); }
.notice { margin: 4px 0; padding: 4px 8px; background: var(--vscode-inputValidation-infoBackground, transparent); border: 1px solid var(--vscode-inputValidation-infoBorder, var(--vscode-focusBorder)); }
.legend { font-size: 0.9em; }
button { font-family: inherit; font-size: inherit; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: 1px solid var(--vscode-button-border, transparent); border-radius: 2px; padding: 3px 10px; cursor: pointer; }
button:hover { background: var(--vscode-button-hoverBackground); }
button:disabled { opacity: 0.5; cursor: default; }
button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
button.secondary:hover { background: var(--vscode-button-secondaryHoverBackground); }
.badges { display: flex; gap: 4px; flex-wrap: wrap; margin-bottom: 6px; }
.badge { font-size: 0.85em; padding: 0 6px; border-radius: 8px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
.badge.ok { background: var(--vscode-testing-iconPassed, var(--vscode-charts-green)); color: var(--vscode-editor-background); }
.badge.bad { background: var(--vscode-testing-iconFailed, var(--vscode-charts-red)); color: var(--vscode-editor-background); }
.figures { display: flex; flex-direction: column; gap: 4px; margin-bottom: 6px; }
.metric-head { display: flex; flex-wrap: wrap; gap: 0 8px; align-items: baseline; }
.metric .name { color: var(--vscode-descriptionForeground); min-width: 4.5em; }
.metric .value { font-variant-numeric: tabular-nums; font-weight: 600; }
.metric .detail { font-size: 0.85em; color: var(--vscode-descriptionForeground); font-variant-numeric: tabular-nums; }
.metric .ratio { font-size: 0.85em; color: var(--vscode-descriptionForeground); font-variant-numeric: tabular-nums; }
.caption { margin: 0; font-size: 0.85em; color: var(--vscode-descriptionForeground); }
svg.bar { width: 100%; height: 10px; display: block; }
svg.bar .noise { fill: var(--vscode-foreground); opacity: 0.35; }
svg.bar .tick { stroke: var(--vscode-descriptionForeground); stroke-width: 1; }
svg.bar .track { fill: var(--vscode-input-background, rgba(128,128,128,0.15)); }
svg.bar.tests .fill { fill: var(--vscode-charts-green); }
svg.bar.runtime .fill { fill: var(--vscode-charts-blue); }
svg.bar.memory .fill { fill: var(--vscode-charts-purple); }
svg.bar .ref { stroke: var(--vscode-foreground); stroke-width: 2; }
details summary { cursor: pointer; color: var(--vscode-textLink-foreground); margin: 4px 0; }
.stats .plus { color: var(--vscode-gitDecoration-addedResourceForeground, var(--vscode-charts-green)); }
.stats .minus { color: var(--vscode-gitDecoration-deletedResourceForeground, var(--vscode-charts-red)); }
pre.diff { margin: 0; padding: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; background: var(--vscode-textCodeBlock-background, var(--vscode-editor-background)); }
pre.diff.plain { padding: 4px 6px; }
pre.diff .line { white-space: pre-wrap; overflow-wrap: anywhere; padding: 0 6px 0 calc(6px + 1.2em); text-indent: -1.2em; }
pre.diff .line.added { background: var(--vscode-diffEditor-insertedLineBackground, var(--vscode-diffEditor-insertedTextBackground)); }
pre.diff .line.removed { background: var(--vscode-diffEditor-removedLineBackground, var(--vscode-diffEditor-removedTextBackground)); }
pre.diff .sign { display: inline-block; width: 1.2em; color: var(--vscode-descriptionForeground); user-select: none; }
.reasoning p { white-space: pre-wrap; margin: 0; }
.failures pre { white-space: pre-wrap; overflow-wrap: anywhere; color: var(--vscode-errorForeground); }
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
    const y = window.scrollY;
    root.innerHTML = msg.html;
    root.querySelectorAll('details[data-key]').forEach(function (d) {
      if (keys.has(d.dataset.key)) { d.open = true; }
    });
    window.scrollTo(0, y);
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
