/**
 * The keyboard view of a function's candidates: quick-pick items with the same figures as the
 * comparison panel, and the virtual-document URIs used to preview each candidate as a diff.
 */

import { PickItem } from './host';
import { buildPanelModel } from './panelModel';
import { CandidatesPayload } from './protocol';

export const CANDIDATE_SCHEME = 'orps-candidate';

export function pickItems(payload: CandidatesPayload): PickItem[] {
  const model = buildPanelModel(payload);
  const items: PickItem[] = [];
  const current = model.current;
  if (current) {
    const stays = model.verdictKind === 'current' ? ' · stays best' : '';
    items.push({
      label: `$(circle-large-filled) current  ${current.testsText}${stays}`,
      description: `${current.runtimeText}${current.noiseText ? ` ${current.noiseText}` : ''} · ${current.memoryText} · runtime ${current.runtimeCaption}`,
      detail: 'The code in the editor now (not selectable)',
    });
  }
  for (const row of model.rows) {
    const icon = row.preferred ? '$(star-full)' : row.passesAll ? '$(pass)' : '$(error)';
    const vs = row.currentRuntimeText ? ` (current ${row.currentRuntimeText})` : '';
    const noise = row.noiseText ? ` ${row.noiseText}` : '';
    const flags = [row.preferred ? 'preferred' : '', row.failsCurrentTests ? 'fails tests the current code passes' : '']
      .filter(Boolean)
      .map((f) => ` · ${f}`)
      .join('');
    items.push({
      id: row.id,
      label: `${icon} #${row.rank}  ${row.testsText}${row.ratioText ? ` · ${row.ratioText}` : ''}${flags}`,
      description: `${row.runtimeText}${noise}${vs} · ${row.memoryText} · +${row.diffStats.added} −${row.diffStats.removed} lines`,
      detail: firstLine(row.reasoning),
    });
  }
  return items;
}

function firstLine(text: string): string | undefined {
  const line = text
    .split('\n')
    .map((l) => l.replace(/^#+\s*/, '').trim())
    .find((l) => l !== '' && !/^reasoning$/i.test(l));
  return line ? (line.length > 160 ? `${line.slice(0, 157)}…` : line) : undefined;
}

/** The title carries the state of the search and the verdict (which candidate, if any, is best). */
export function pickTitle(payload: CandidatesPayload, notice = ''): string {
  const model = buildPanelModel(payload, notice);
  const state = payload.running ? 'searching…' : `${payload.candidates.length} candidate${payload.candidates.length === 1 ? '' : 's'}`;
  const verdict = notice || model.verdict || model.emptyText;
  return `ORPS: ${payload.name} (${state})${verdict ? ` · ${verdict}` : ''}`;
}

/** `orps-candidate:/<name>/<id>.py?<document uri>`; id `current` is the code the search began from. */
export function candidateDocumentUri(documentUri: string, name: string, id: string): string {
  return `${CANDIDATE_SCHEME}:/${encodeURIComponent(name)}/${encodeURIComponent(id)}.py?${encodeURIComponent(documentUri)}`;
}

export function parseCandidateDocumentUri(
  uri: string,
): { documentUri: string; name: string; id: string } | undefined {
  const match = /^orps-candidate:\/([^/?]*)\/([^/?]*)\.py\?(.*)$/.exec(uri);
  if (!match) {
    return undefined;
  }
  return {
    name: decodeURIComponent(match[1]),
    id: decodeURIComponent(match[2]),
    documentUri: decodeURIComponent(match[3]),
  };
}

/** The text of a virtual candidate document. */
export function candidateDocumentText(payload: CandidatesPayload, id: string): string | undefined {
  if (id === 'current') {
    return ensureNewline(payload.currentCode);
  }
  const candidate = payload.candidates.find((c) => c.id === id);
  return candidate ? ensureNewline(candidate.code) : undefined;
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
