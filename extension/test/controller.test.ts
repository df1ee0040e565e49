import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OrpsController } from '../src/controller';
import { CANDIDATES_NOTIFICATION, STATUS_NOTIFICATION } from '../src/protocol';
import { pickTitle } from '../src/pickItems';
import { API_KEY_SECRET } from '../src/serverManager';
import { Commands } from '../src/statusView';
import { DOC_URI, payload } from './fixtures';
import { settle, StubHost } from './stubHost';

function pythonEditor(host: StubHost): void {
  host.editor = { uri: DOC_URI, version: 7, line: 2, character: 4, languageId: 'python' };
}

async function started(configure: (host: StubHost) => void = () => undefined) {
  const host = new StubHost();
  host.settings = { 'server.interpreter': '/venv/bin/python', model: 'scripted', beamWidth: 2, cache: false, baseUrl: 'http://127.0.0.1:9/v1' };
  configure(host);
  const controller = new OrpsController(host);
  await controller.activate();
  return { host, controller };
}

test('activation checks the interpreter and starts `python -m orps serve` with the settings', async () => {
  const { host, controller } = await started((h) => h.secrets.set(API_KEY_SECRET, 'sk-secret'));
  assert.deepEqual(host.processes.map((p) => [p.command, p.args[1]]), [
    ['/venv/bin/python', "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
    ['/venv/bin/python', 'import orps.cli'],
  ]);
  const client = host.lastClient;
  assert.equal(client.launch.command, '/venv/bin/python');
  assert.deepEqual(client.launch.args, ['-m', 'orps', 'serve']);
  assert.equal(client.launch.cwd, '/ws');
  assert.deepEqual(client.launch.initializationOptions, {
    model: 'scripted',
    beamWidth: 2,
    cache: false,
    baseUrl: 'http://127.0.0.1:9/v1',
  });
  assert.equal(client.launch.env.ORPS_API_KEY, 'sk-secret');
  assert.equal(client.launch.env.PATH, '/usr/bin');
  assert.ok(!JSON.stringify(client.launch.initializationOptions).includes('sk-secret'));
  assert.ok(!host.logs.join('\n').includes('sk-secret'), 'the key is never logged');
  assert.equal(client.started, 1);
  assert.equal(controller.server.serverState, 'running');
  assert.equal(host.statusItems[0].text, '$(beaker) ORPS: scripted');
  assert.deepEqual(
    client.launch.mapConfiguration('orps', { model: 'm', server: { interpreter: 'x' } }),
    { model: 'm' },
  );
  assert.deepEqual(client.launch.mapConfiguration('python', { a: 1 }), { a: 1 });
  controller.dispose();
});

test('a Python without orps: the user is told and offered an install into it', async () => {
  const { host } = await started((h) => {
    h.settings['server.interpreter'] = '';
    h.pythonExtension = '/ext/venv/bin/python';
    h.files['/ws/pyproject.toml'] = '[project]\nname = "orps"\n';
    h.choices.push({ match: /does not have the orps package/, choice: 'Install' });
    let installed = false;
    h.processAnswer = (_command, args) => {
      if (args[1]?.includes('version_info')) {
        return { code: 0, stdout: '3.12.0\n', stderr: '' };
      }
      if (args[0] === '-c') {
        return installed
          ? { code: 0, stdout: '', stderr: '' }
          : { code: 1, stdout: '', stderr: "ModuleNotFoundError: No module named 'orps'" };
      }
      installed = true;
      return { code: 0, stdout: 'Successfully installed orps-0.1.0', stderr: '' };
    };
  });
  await settle(20);
  const error = host.messages.find((m) => m.level === 'error');
  assert.ok(error);
  assert.match(error.message, /\/ext\/venv\/bin\/python \(the Python extension's environment\) does not have the orps package/);
  assert.deepEqual(error.items, ['Install', 'Select Interpreter']);
  const pip = host.processes.find((p) => p.args[1] === 'pip');
  assert.ok(pip, 'pip ran');
  assert.equal(pip.command, '/ext/venv/bin/python');
  assert.deepEqual(pip.args, ['-m', 'pip', 'install', '--editable', '/ws']);
  assert.equal(host.clients.length, 1, 'the server started after the install');
  assert.equal(host.lastClient.started, 1);
});

test('a too-old Python is refused without starting anything', async () => {
  const { host, controller } = await started((h) => {
    h.processAnswer = () => ({ code: 0, stdout: '3.9.18\n', stderr: '' });
  });
  assert.equal(host.clients.length, 0);
  assert.equal(controller.server.serverState, 'failed');
  assert.match(host.messages[0].message, /needs Python 3\.11 or later; .* is 3\.9\.18/);
  assert.equal(host.statusItems[0].text, '$(warning) ORPS');
});

test('server settings apply live; only the interpreter (or the key variable) restarts the server', async () => {
  const { host, controller } = await started();
  host.settings.beamWidth = 4;
  host.changeSettings('orps.beamWidth');
  host.changeSettings('orps.beamWidth', 'orps.rounds');
  await new Promise((resolve) => setTimeout(resolve, 400));
  await settle();
  assert.equal(host.clients.length, 1, 'no restart for a server setting');
  const sent = host.lastClient.notifications.filter((n) => n.method === 'workspace/didChangeConfiguration');
  assert.equal(sent.length, 2);
  assert.equal((sent[0].params as { settings: { orps: { beamWidth: number } } }).settings.orps.beamWidth, 4);
  // The server says it reloaded them; the status item's tooltip carries the note.
  host.lastClient.notify(STATUS_NOTIFICATION, { model: 'scripted', running: [], settingsApplied: 'settings reloaded: beamWidth 4' });
  assert.match(host.statusItems[0].tooltip, /settings reloaded: beamWidth 4/);
  host.changeSettings('orps.saveOnAccept');
  host.changeSettings('orps.trace.server');
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(host.clients.length, 1, 'client-only settings do not restart');
  host.changeSettings('orps.server.interpreter');
  await new Promise((resolve) => setTimeout(resolve, 400));
  await settle();
  assert.equal(host.clients.length, 2, 'the interpreter setting restarts');
  assert.equal(host.clients[0].stopped, 1);
  host.settings['server.interpreter'] = '';
  host.pythonListeners.forEach((l) => l());
  await new Promise((resolve) => setTimeout(resolve, 400));
  await settle();
  assert.equal(host.clients.length, 3, "the Python extension's interpreter restarts");
  await host.commands.get(Commands.restartServer)?.();
  assert.equal(host.clients.length, 4);
  controller.dispose();
});

test('Set API Key stores the secret and restarts with it in the environment', async () => {
  const { host, controller } = await started((h) => {
    h.settings.apiKeyEnv = 'MY_ENDPOINT_KEY';
  });
  assert.equal(host.lastClient.launch.env.MY_ENDPOINT_KEY, undefined);
  host.secretAnswer = ' sk-new ';
  await host.commands.get(Commands.setApiKey)?.();
  assert.equal(host.secrets.get(API_KEY_SECRET), 'sk-new');
  assert.equal(host.clients.length, 2);
  assert.equal(host.lastClient.launch.env.MY_ENDPOINT_KEY, 'sk-new');
  assert.ok(!('apiKey' in (host.lastClient.launch.initializationOptions as object)));
  await host.commands.get(Commands.clearApiKey)?.();
  assert.equal(host.secrets.has(API_KEY_SECRET), false);
  assert.equal(host.lastClient.launch.env.MY_ENDPOINT_KEY, undefined);
  controller.dispose();
});

test('Refine sends orps.refine with uri, version and position; the panel fills live', async () => {
  const { host, controller } = await started(pythonEditor);
  const client = host.lastClient;
  let finish: (value: unknown) => void = () => undefined;
  client.answers.set('orps.refine', () => new Promise((resolve) => (finish = resolve)));
  const refined = controller.refineAtCursor();
  await settle();
  assert.deepEqual(client.commands[0], {
    command: 'orps.refine',
    args: [{ uri: DOC_URI, version: 7, position: { line: 2, character: 4 } }],
  });
  assert.equal(host.panels.length, 0, 'the panel opens with the first payload');
  const starting = payload({ running: true, stopped: null, candidates: [], progress: null });
  client.notify(CANDIDATES_NOTIFICATION, starting);
  client.notify(STATUS_NOTIFICATION, { model: 'scripted', running: [{ uri: DOC_URI, name: 'fib', searchId: 's1' }] });
  assert.equal(host.panels.length, 1);
  const panel = host.panels[0];
  assert.equal(panel.title, 'ORPS: fib');
  assert.match(panel.html, /Waiting for the first tested candidate/);
  assert.match(panel.html, /Content-Security-Policy/);
  assert.equal(host.statusItems.length, 1, 'one status-bar item');
  assert.equal(host.statusItems[0].text, '$(loading~spin) ORPS: fib');
  assert.equal(host.statusItems[0].command, Commands.cancelSearches);
  client.notify(
    CANDIDATES_NOTIFICATION,
    payload({ running: true, stopped: null, progress: { round: 1, rounds: 2, llmCalls: 4, maxCalls: 30, candidates: 2, message: 'round 1/2 · 4/30 calls · best so far: #1 4.0× faster' } }),
  );
  assert.equal((panel.lastBody().match(/4\/30 calls/g) ?? []).length, 1, 'the progress line, once');
  assert.match(panel.lastBody(), /best so far: #1 4\.0× faster/);
  assert.match(panel.lastBody(), /data-accept="c1"/);
  assert.match(host.statusItems[0].text, /round 1\/2/);
  finish(payload());
  const final = await refined;
  assert.equal(final?.running, false);
  client.notify(STATUS_NOTIFICATION, { model: 'scripted', running: [] });
  assert.match(panel.lastBody(), /Search completed · 2 candidates/);
  assert.equal(host.statusItems[0].text, '$(beaker) ORPS: scripted');
  assert.equal(host.panels.length, 1, 'updates reuse the panel');
  controller.dispose();
});

test('Accept in the panel sends orps.accept and saves a file that was clean', async () => {
  const { host, controller } = await started(pythonEditor);
  const client = host.lastClient;
  client.answers.set('orps.accept', () => true);
  controller.store.update(payload());
  await controller.openComparison();
  const panel = host.panels[0];
  panel.send({ type: 'accept', candidateId: 'c1' });
  await settle();
  assert.deepEqual(client.commands.at(-1), { command: 'orps.accept', args: [{ uri: DOC_URI, name: 'fib', candidateId: 'c1' }] });
  assert.deepEqual(host.saved, [DOC_URI]);
  host.dirty.add(DOC_URI);
  panel.send({ type: 'accept', candidateId: 'c2' });
  await settle();
  assert.deepEqual(host.saved, [DOC_URI], 'a file with unsaved changes is left unsaved');
  client.answers.set('orps.accept', () => false);
  host.dirty.clear();
  panel.send({ type: 'accept', candidateId: 'c2' });
  await settle();
  assert.deepEqual(host.saved, [DOC_URI], 'nothing is saved when the server did not apply');
  panel.send({ type: 'cancel' });
  await settle();
  assert.deepEqual(client.commands.at(-1), { command: 'orps.cancel', args: [{ uri: DOC_URI, name: 'fib' }] });
  controller.dispose();
});

test('Show Candidates: a quick pick previewing diffs, Enter accepts', async () => {
  const { host, controller } = await started(pythonEditor);
  const client = host.lastClient;
  client.requestAnswers.set('orps/candidates', () => payload());
  client.answers.set('orps.accept', () => true);
  await host.commands.get(Commands.pickCandidate)?.();
  assert.deepEqual(client.requests[0], { method: 'orps/candidates', params: { uri: DOC_URI, position: { line: 2, character: 4 } } });
  const pick = host.quickPicks[0];
  assert.equal(pick.items.length, 3, 'the current code and two candidates');
  pick.options.onActive(pick.items[0]);
  await settle();
  assert.equal(host.diffs.length, 0, 'the current row previews nothing');
  pick.options.onActive(pick.items[1]);
  await settle();
  assert.equal(host.diffs.length, 1);
  const provide = host.virtualDocuments.get('orps-candidate');
  assert.ok(provide);
  assert.match(provide(host.diffs[0].left) ?? '', /return fib\(n - 1\)/);
  assert.match(provide(host.diffs[0].right) ?? '', /a, b = b, a \+ b/);
  assert.equal(host.diffs[0].title, 'fib: current ↔ #1');
  pick.options.onAccept(pick.items[1]);
  await settle();
  assert.equal(pick.hidden, true);
  assert.deepEqual(client.commands.at(-1)?.args, [{ uri: DOC_URI, name: 'fib', candidateId: 'c1' }]);
  // Live: a new payload updates the open pick.
  await host.commands.get(Commands.pickCandidate)?.();
  const second = host.quickPicks[1];
  controller.store.update(payload({ searchId: 's9', candidates: payload().candidates.slice(0, 1) }));
  assert.equal(second.items.length, 2);
  controller.dispose();
});

test('the code lens command orps.showCandidates opens the panel; orps.refine from a lens opens it too', async () => {
  const { host, controller } = await started(pythonEditor);
  const launch = host.lastClient.launch;
  const result = await launch.onServerCommand('orps.showCandidates', [{ uri: DOC_URI, name: 'fib' }], async () => payload());
  assert.equal((result as { name: string }).name, 'fib');
  assert.equal(host.panels.length, 1);
  host.panels[0].dispose();
  await launch.onServerCommand('orps.refine', [{ uri: DOC_URI, version: 1, position: { line: 0, character: 0 } }], async () => {
    host.lastClient.notify(CANDIDATES_NOTIFICATION, payload({ searchId: 's2', running: true, stopped: null }));
    return payload({ searchId: 's2' });
  });
  assert.equal(host.panels.length, 2);
  // orps.accept from a lens or action goes through the same confirmation and refresh.
  let forwarded = 0;
  host.lastClient.answers.set('orps.accept', () => ({ needsConfirmation: true, message: 'Accept anyway?' }));
  const accepted = await launch.onServerCommand('orps.accept', [{ uri: DOC_URI, name: 'fib', candidateId: 'c2' }], async () => {
    forwarded += 1;
    return true;
  });
  assert.equal(accepted, false, 'declined');
  assert.deepEqual(host.confirmations, ['Accept anyway?']);
  assert.equal(forwarded, 0);
  const other = await launch.onServerCommand('orps.cancel', [], async () => 'passed through');
  assert.equal(other, 'passed through');
  controller.dispose();
});

test('payloads of a superseded search are dropped', async () => {
  const { controller } = await started();
  assert.equal(controller.store.update(payload({ searchId: 'old', running: true })), true);
  assert.equal(controller.store.update(payload({ searchId: 'new', running: true, candidates: [] })), true);
  assert.equal(controller.store.update(payload({ searchId: 'old', running: false })), false);
  assert.equal(controller.store.get({ uri: DOC_URI, name: 'fib' })?.searchId, 'new');
  controller.dispose();
});

test('commands without a Python editor or a server explain themselves', async () => {
  const { host, controller } = await started();
  await controller.refineAtCursor();
  assert.match(host.messages.at(-1)?.message ?? '', /Place the cursor in a Python function/);
  await host.commands.get(Commands.pickCandidate)?.();
  assert.match(host.messages.at(-1)?.message ?? '', /No candidates yet/);
  pythonEditor(host);
  host.lastClient.running = false;
  await controller.refineAtCursor();
  assert.match(host.messages.at(-1)?.message ?? '', /not running/);
  controller.dispose();
});

test('Accept of a failing candidate asks first; no means nothing is sent again', async () => {
  const { host, controller } = await started(pythonEditor);
  const client = host.lastClient;
  const message = '#2 fails 1 of the 5 tests the current code passes. Accept anyway?';
  client.answers.set('orps.accept', (args) =>
    (args[0] as { confirmed?: boolean }).confirmed === true ? true : { needsConfirmation: true, message },
  );
  controller.store.update(payload());
  await controller.openComparison();
  const panel = host.panels[0];
  host.confirmAnswer = false;
  panel.send({ type: 'accept', candidateId: 'c2' });
  await settle(10);
  assert.deepEqual(host.confirmations, [message]);
  assert.equal(client.commands.filter((c) => c.command === 'orps.accept').length, 1, 'declined: not sent again');
  assert.deepEqual(host.saved, []);
  assert.match(panel.lastBody(), /data-accept="c2"/, 'the buttons come back');
  host.confirmAnswer = true;
  panel.send({ type: 'accept', candidateId: 'c2' });
  await settle(10);
  const accepts = client.commands.filter((c) => c.command === 'orps.accept');
  assert.equal(accepts.length, 3);
  assert.deepEqual(accepts[2].args, [{ uri: DOC_URI, name: 'fib', candidateId: 'c2', confirmed: true }]);
  assert.deepEqual(host.saved, [DOC_URI]);
  controller.dispose();
});

test('after Accept every view moves on: the accepted code is current, old buttons go, previews close', async () => {
  const { host, controller } = await started(pythonEditor);
  const client = host.lastClient;
  client.answers.set('orps.accept', () => true);
  controller.store.update(payload());
  await controller.openComparison();
  await host.commands.get(Commands.pickCandidate)?.();
  const pick = host.quickPicks[0];
  pick.options.onActive(pick.items[1]);
  await settle();
  const panel = host.panels[0];
  panel.send({ type: 'accept', candidateId: 'c1' });
  await settle(10);
  assert.deepEqual(host.closedSchemes, ['orps-candidate'], 'the diff preview tabs close');
  assert.equal(pick.hidden, true);
  const stored = controller.store.get({ uri: DOC_URI, name: 'fib' });
  assert.ok(stored);
  assert.equal(stored.currentCode, payload().candidates[0].code);
  assert.equal(stored.current?.runtimeNs, 1_000_000);
  assert.deepEqual(stored.candidates.map((c) => [c.id, c.rank, c.preferred, c.ratioText]), [['c2', 1, false, '']]);
  const body = panel.lastBody();
  assert.ok(!/data-accept="c1"/.test(body), "the accepted candidate's button is gone");
  assert.ok(!/class="accept"/.test(body), 'no primary Accept is left');
  assert.match(body, /#1 was accepted and is now the current code \(5\/5 tests, 4\.0× faster than the code it replaced\)/);
  assert.match(body, /Accepted #1/);
  assert.match(body, /<span class="rank">current code<\/span>/);
  assert.match(pickTitle(stored, controller.store.notice(stored)), /^ORPS: fib \(1 candidate\) · Accepted #1/);
  // A server payload that does not hold the accepted code as current yet does not win.
  client.requestAnswers.set('orps/candidates', () => ({ ...stored, verdict: 'from the server' }));
  panel.send({ type: 'accept', candidateId: 'c2' });
  await settle(10);
  assert.equal(controller.store.get({ uri: DOC_URI, name: 'fib' })?.verdict, '#1 was accepted and is now the current code (4/5 tests); refine again to compare the other candidates with it');
  controller.dispose();
});

test('a restart re-sends the stored results with orps/restore, and the panel says so', async () => {
  const { host, controller } = await started(pythonEditor);
  controller.store.update(payload());
  controller.store.update(payload({ name: 'other', searchId: 's2', running: true, stopped: null }));
  await controller.openComparison();
  host.onClient = (client) => client.requestAnswers.set('orps/restore', (params) => (params as { payloads: unknown[] }).payloads.length);
  await host.commands.get(Commands.restartServer)?.();
  await settle();
  const client = host.lastClient;
  const restore = client.requests.find((r) => r.method === 'orps/restore');
  assert.ok(restore, 'orps/restore was sent');
  const sent = (restore.params as { payloads: Array<{ name: string; running: boolean; stopped: string }> }).payloads;
  assert.deepEqual(sent.map((p) => p.name).sort(), ['fib', 'other']);
  assert.ok(sent.every((p) => !p.running), 'nothing is sent as running');
  assert.equal(sent.find((p) => p.name === 'other')?.stopped, 'interrupted');
  const fib = controller.store.get({ uri: DOC_URI, name: 'fib' });
  assert.equal(fib?.stopped, 'restored');
  const body = host.panels[0].lastBody();
  assert.match(body, /The orps server restarted; these results were restored/);
  assert.match(body, /Restored after a server restart/);
  assert.match(body, /data-accept="c1"/);
  controller.dispose();
});

test('a server without orps/restore: the panel says Accept needs a new Refine', async () => {
  const { host, controller } = await started(pythonEditor);
  controller.store.update(payload());
  await controller.openComparison();
  host.onClient = (client) =>
    client.requestAnswers.set('orps/restore', () => {
      throw new Error('Unhandled method orps/restore');
    });
  await host.commands.get(Commands.restartServer)?.();
  await settle();
  assert.match(host.panels[0].lastBody(), /could not take these results back \(Unhandled method orps\/restore\)/);
  controller.dispose();
});

test('Refine during a restart waits for the server instead of failing', async () => {
  const { host, controller } = await started(pythonEditor);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  host.onClient = (client) => {
    const start = client.start.bind(client);
    client.start = async () => {
      await gate;
      await start();
    };
    client.answers.set('orps.refine', () => payload({ searchId: 'after-restart' }));
  };
  const restarting = host.commands.get(Commands.restartServer)?.() as Promise<void>;
  await settle();
  assert.equal(controller.server.serverState, 'starting');
  const refined = controller.refineAtCursor();
  await settle();
  assert.equal(host.lastClient.commands.length, 0, 'nothing sent before the server runs');
  release();
  await restarting;
  const result = await refined;
  assert.equal(result?.searchId, 'after-restart');
  assert.equal(host.lastClient.commands[0]?.command, 'orps.refine');
  assert.ok(!host.messages.some((m) => /not running/.test(m.message)), 'no "server is not running"');
  controller.dispose();
});

test('a server that stops mid-search: the panel says so instead of "running"', async () => {
  const { host, controller } = await started(pythonEditor);
  controller.store.update(payload({ running: true, stopped: null }));
  await controller.openComparison();
  host.lastClient.running = false;
  host.lastClient.stopListeners.forEach((l) => l());
  await settle();
  const stored = controller.store.get({ uri: DOC_URI, name: 'fib' });
  assert.equal(stored?.running, false);
  assert.equal(stored?.stopped, 'interrupted');
  assert.match(host.panels[0].lastBody(), /The orps server stopped during this search/);
  controller.dispose();
});

test('cancelling a re-run keeps the previous result the server re-sends', async () => {
  const { host, controller } = await started(pythonEditor);
  const client = host.lastClient;
  controller.store.update(payload({ searchId: 'first' }));
  controller.store.update(payload({ searchId: 'rerun', running: true, stopped: null, candidates: [] }));
  // A superseded search's late words are dropped...
  assert.equal(controller.store.update(payload({ searchId: 'first', running: false, stopped: 'cancelled' })), false);
  // ...but after the user cancels the re-run, the previous result is what stays.
  await controller.cancel({ uri: DOC_URI, name: 'fib' });
  assert.deepEqual(client.commands.at(-1), { command: 'orps.cancel', args: [{ uri: DOC_URI, name: 'fib' }] });
  const previous = payload({ searchId: 'first', stopped: 'cancelled', verdict: 'the re-run was cancelled; the previous result is shown' });
  assert.equal(controller.store.update(previous), true);
  assert.equal(controller.store.get({ uri: DOC_URI, name: 'fib' })?.candidates.length, 2);
  controller.dispose();
});

test('one short status-bar item; the endpoint URL only in its tooltip', async () => {
  const { host, controller } = await started();
  host.lastClient.notify(STATUS_NOTIFICATION, { model: 'scripted @ http://127.0.0.1:8080/v1', running: [] });
  assert.equal(host.statusItems.length, 1);
  assert.equal(host.statusItems[0].text, '$(beaker) ORPS: scripted');
  assert.match(host.statusItems[0].tooltip, /model scripted @ http:\/\/127\.0\.0\.1:8080\/v1/);
  controller.store.update(payload({ running: true, stopped: null, progress: { round: 1, rounds: 2, llmCalls: 3, maxCalls: 30, candidates: 1, message: 'round 1/2 · 3/30 calls' } }));
  host.lastClient.notify(STATUS_NOTIFICATION, { model: 'scripted @ http://127.0.0.1:8080/v1', running: [{ uri: DOC_URI, name: 'fib', searchId: 's1' }] });
  assert.equal(host.statusItems[0].text, '$(loading~spin) ORPS: fib · round 1/2');
  assert.match(host.statusItems[0].tooltip, /Refining fib in fib\.py: round 1\/2 · 3\/30 calls/);
  controller.dispose();
});
