/**
 * Accepting a candidate: `orps.accept` through the server's edit, the user's confirmation when
 * the server answers `needsConfirmation` (the candidate fails tests), saving a file that was
 * clean, and moving every view on afterwards (the accepted code is current, the previews close).
 */

import { CandidateStore } from './candidateStore';
import { Host, LspClient } from './host';
import { acceptedPayload } from './payloadState';
import {
  AcceptArguments,
  CANDIDATES_REQUEST,
  CandidatesPayload,
  FunctionRef,
  normalisePayload,
  readAcceptResult,
  ServerCommand,
} from './protocol';
import { SAVE_ON_ACCEPT_SETTING } from './settings';

export class Acceptance {
  constructor(
    private readonly host: Host,
    private readonly store: CandidateStore,
    private readonly closePreviews: () => Promise<void>,
  ) {}

  /**
   * Accepts a candidate through the server's edit (`orps.accept`). A candidate that fails tests
   * comes back as a question (`needsConfirmation`): the user is asked, and only a yes sends it
   * again with `confirmed: true`. Once applied, every view moves on: the accepted code is the
   * current one, the old Accept buttons go, and the diff previews close.
   */
  async accept(client: LspClient, ref: FunctionRef, candidateId: string): Promise<boolean> {
    const wasDirty = this.host.isDirty(ref.uri);
    const args: AcceptArguments = { uri: ref.uri, name: ref.name, candidateId };
    let applied = false;
    try {
      let result = readAcceptResult(await client.executeCommand(ServerCommand.accept, [args]));
      if (result.kind === 'confirm') {
        const yes = await this.host.confirm(result.message, 'Accept Anyway');
        this.host.log.info(`orps.accept ${ref.name} ${candidateId}: asked "${result.message}": ${yes ? 'confirmed' : 'declined'}`);
        if (!yes) {
          return false;
        }
        result = readAcceptResult(await client.executeCommand(ServerCommand.accept, [{ ...args, confirmed: true }]));
      }
      applied = result.kind === 'applied';
    } catch (err) {
      this.host.log.error(`orps.accept failed: ${String(err)}`);
      void this.host.showError(`Could not apply the candidate: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    this.host.log.info(`orps.accept ${ref.name} ${candidateId}: ${applied ? 'applied' : 'not applied'}`);
    if (!applied) {
      return false;
    }
    await this.closePreviews().catch((err: unknown) => this.host.log.warn(`Closing the previews: ${String(err)}`));
    if (!wasDirty && this.host.getSetting<boolean>(SAVE_ON_ACCEPT_SETTING) !== false) {
      const saved = await this.host.save(ref.uri).catch((err: unknown) => {
        this.host.log.warn(`Saving ${ref.uri}: ${String(err)}`);
        return false;
      });
      this.host.log.info(`${saved ? 'Saved' : 'Could not save'} ${ref.uri} after accepting.`);
    }
    await this.refreshAfterAccept(client, ref, candidateId);
    return true;
  }

  /** The server's payload when it already has the accepted code as current, else the stored
   * payload with the accepted candidate made current locally. */
  private async refreshAfterAccept(client: LspClient, ref: FunctionRef, candidateId: string): Promise<void> {
    const before = this.store.get(ref);
    const local = before ? acceptedPayload(before, candidateId) : undefined;
    let fromServer: CandidatesPayload | undefined;
    try {
      fromServer = normalisePayload(await client.sendRequest(CANDIDATES_REQUEST, { uri: ref.uri, name: ref.name }));
    } catch (err) {
      this.host.log.warn(`${CANDIDATES_REQUEST} after accept failed: ${String(err)}`);
    }
    const accepted = before?.candidates.find((c) => c.id === candidateId);
    const sameCode = (a: string, b: string) => a.replace(/\s+/g, ' ').trim() === b.replace(/\s+/g, ' ').trim();
    if (fromServer && accepted && fromServer.current && sameCode(fromServer.currentCode, accepted.code)) {
      this.store.update(fromServer);
    } else if (local) {
      this.store.update(local.payload, local.notice);
    }
  }
}
