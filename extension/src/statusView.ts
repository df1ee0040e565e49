/**
/**
 * What the extension's one status bar item says: a running search (function, round) or the
 * model in use; a click cancels the running searches, or opens the candidates when none runs.
 * The tooltip says how candidates are confined and why that is weaker, if it is; a refused
 * sandbox shows a warning.
 */

import { shortModel } from './panelModel';
import { CandidatesPayload, FunctionRef, IsolationStatus, StatusPayload } from './protocol';

export type ServerState = 'starting' | 'running' | 'stopped' | 'failed';

export interface StatusView {
  text: string;
  tooltip: string;
  command: string | undefined;
}

export const Commands = {
  refineAtCursor: 'orps.refineAtCursor',
  pickCandidate: 'orps.pickCandidate',
  openComparison: 'orps.openComparison',
  cancelSearches: 'orps.cancelSearches',
  setApiKey: 'orps.setApiKey',
  clearApiKey: 'orps.clearApiKey',
  restartServer: 'orps.restartServer',
  installServer: 'orps.installServer',
  showLog: 'orps.showLog',
} as const;

function fileOf(uri: string): string {
  return decodeURIComponent(uri.slice(uri.lastIndexOf('/') + 1));
}

/**
 * The one status-bar item: short text (the model's short name, or the running search's function
 * and round); the full model label with its endpoint URL, and any note on reloaded settings, go
 * in the tooltip only.
 */
export function statusView(
  state: ServerState,
  status: StatusPayload | undefined,
  configuredModel: string,
  payloadOf: (ref: FunctionRef) => CandidatesPayload | undefined,
): StatusView {
  if (state === 'failed' || state === 'stopped') {
    return {
      text: '$(warning) ORPS',
      tooltip: state === 'failed' ? 'The orps server is not running. Click for its log.' : 'The orps server is stopped. Click for its log.',
      command: Commands.showLog,
    };
  }
  if (state === 'starting') {
    return {
      text: '$(loading~spin) ORPS',
      tooltip: 'Starting the orps server… (a Refine now waits for it)',
      command: Commands.showLog,
    };
  }
  const label = status?.model || configuredModel || 'default model';
  const model = shortModel(label) || label;
  const note = status?.settingsApplied ? `\n${status.settingsApplied}` : '';
  const running = status?.running ?? [];
  const sandbox = isolationLines(status?.isolation);
  if (running.length === 0) {
    const refused = status?.isolation?.kind === 'refused';
    return {
      text: `${refused ? '$(warning)' : '$(beaker)'} ORPS: ${model}`,
      tooltip: `orps server ready · model ${label}${note}\n${sandbox}Click to show the candidates of the function at the cursor.`,
      command: Commands.pickCandidate,
    };
  }
  const first = running[0];
  const progress = payloadOf(first)?.progress;
  const round = progress ? ` · round ${progress.round}/${progress.rounds}` : '';
  const more = running.length > 1 ? ` (+${running.length - 1})` : '';
  const lines = running.map((r) => {
    const p = payloadOf(r)?.progress;
    return `Refining ${r.name} in ${fileOf(r.uri)}${p ? `: ${p.message || `round ${p.round}/${p.rounds}, ${p.llmCalls}/${p.maxCalls} calls`}` : ''}`;
  });
  return {
    text: `$(loading~spin) ORPS: ${first.name}${round}${more}`,
    tooltip: `${lines.join('\n')}\nModel ${label}${note}.\n${sandbox}Click to cancel.`,
    command: Commands.cancelSearches,
  };
}

/** The tooltip's sandbox lines (each ending in a newline), or nothing before the first status. */
export function isolationLines(isolation: IsolationStatus | undefined): string {
  if (!isolation) {
    return '';
  }
  if (isolation.kind === 'checking') {
    return 'Sandbox: checking…\n';
  }
  if (isolation.kind === 'refused') {
    return `Sandbox refused: ${isolation.description}\n`;
  }
  const weaker = isolation.reasons.map((r) => `Weaker than the best: ${r}\n`).join('');
  return `Sandbox: ${isolation.kind} (isolation '${isolation.choice}')\n${weaker}`;
}
