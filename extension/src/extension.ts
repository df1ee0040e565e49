/**
 * The extension's entry point: builds the real host and the controller, and hands VS Code the
 * controller to dispose.
 */

import type * as vscode from 'vscode';
import { OrpsController } from './controller';
import { createHost } from './vscodeApi';

let controller: OrpsController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  controller = new OrpsController(createHost(context));
  context.subscriptions.push(controller);
  await controller.activate();
}

export async function deactivate(): Promise<void> {
  const current = controller;
  controller = undefined;
  await current?.server.stop();
}
