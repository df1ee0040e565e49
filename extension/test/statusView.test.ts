import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseStatus } from '../src/protocol';
import { statusView } from '../src/statusView';

const none = () => undefined;

test('the tooltip says how candidates are confined and why that is weaker', () => {
  const weaker = normaliseStatus({
    model: 'm',
    running: [],
    isolation: {
      kind: 'rlimits',
      choice: 'none',
      description: 'rlimits + guard',
      reasons: ["isolation='none' was requested: no filesystem or network isolation"],
    },
  });
  const view = statusView('running', weaker, '', none);
  assert.match(view.tooltip, /Sandbox: rlimits \(isolation 'none'\)/);
  assert.match(view.tooltip, /Weaker than the best: isolation='none' was requested/);
  assert.match(view.text, /^\$\(beaker\)/);
});

test('a refused sandbox shows a warning and its one-line cause', () => {
  const refused = normaliseStatus({
    model: 'm',
    running: [],
    isolation: { kind: 'refused', choice: 'auto', description: 'bubblewrap is installed but cannot run here (x)', reasons: [] },
  });
  const view = statusView('running', refused, '', none);
  assert.match(view.text, /^\$\(warning\) ORPS/);
  assert.match(view.tooltip, /Sandbox refused: bubblewrap is installed but cannot run here/);
});

test('a status without isolation (an older server) still renders', () => {
  const view = statusView('running', normaliseStatus({ model: 'm', running: [], isolation: 'junk' }), '', none);
  assert.doesNotMatch(view.tooltip, /Sandbox/);
});
