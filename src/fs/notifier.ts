// The Notifier a mount handle gives (api.ts): the session's notifications and nothing else of it.
import type { Session } from '../kernel/session';
import type { Name, Notifier } from './api';

export function sessionNotifier(session: Session): Notifier {
  return {
    invalInode: (nodeid: number, offset?: number, length?: number) => session.notifyInvalInode(nodeid, offset, length),
    invalEntry: (parent: number, name: Name, options?: { expireOnly?: boolean }) => session.notifyInvalEntry(parent, name, options),
    delete: (parent: number, child: number, name: Name) => session.notifyDelete(parent, child, name),
    store: (nodeid: number, offset: number, data: Buffer) => session.notifyStore(nodeid, offset, data),
    retrieve: (nodeid: number, offset: number, size: number) => session.notifyRetrieve(nodeid, offset, size),
    pollWakeup: (kh: bigint) => session.notifyPoll(kh),
  };
}
