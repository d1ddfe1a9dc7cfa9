// Reproducer for the fuzz finding "an OPEN of a FIFO blocks the loopback for good": a session
// serving a Loopback over the memory transport gets MKNOD(S_IFIFO) then OPEN(O_RDONLY) of the
// new node, then a GETATTR of the root. Prints one line per reply; run it with a timeout — while
// the bug is there, the OPEN never returns and nothing after it is answered. argv: an empty directory.
import { Opcode } from '../../src/protocol/constants';
import { Bridge } from '../../src/fs/bridge';
import { Loopback } from '../../src/fs/loopback';
import { MemoryTransport } from '../../src/kernel/memory-transport';
import { Session } from '../../src/kernel/session';
import { initRequest, parseReply, request } from '../helpers/requests';

async function main(): Promise<void> {
  // The caller's directory (it removes it: this process may be SIGKILLed while blocked).
  const dir = process.argv[2];
  const tr = new MemoryTransport();
  const session = new Session(tr, new Bridge(new Loopback(dir)), { log: () => {} });
  session.start();
  tr.push(initRequest(1));
  await session.ready;
  const wait = async (u: number) => {
    for (;;) {
      const r = tr.replies.map(parseReply).find((x) => x.unique === u);
      if (r) return r;
      await tr.waitReplies(tr.replies.length + 1);
    }
  };
  const mknod = Buffer.alloc(16);
  mknod.writeUInt32LE(0o010644, 0); // S_IFIFO
  tr.push(request(Opcode.MKNOD, Buffer.concat([mknod, Buffer.from('fifo\0')]), { unique: 2, nodeid: 1, uid: 0, gid: 0 }));
  const made = await wait(2);
  process.stdout.write(`MKNOD ${made.error}\n`);
  const nodeid = Number(made.body.readBigUInt64LE(0));
  tr.push(request(Opcode.OPEN, Buffer.alloc(8), { unique: 4, nodeid, uid: 0, gid: 0 })); // O_RDONLY
  process.stdout.write(`OPEN ${(await wait(4)).error}\n`);
  tr.push(request(Opcode.GETATTR, Buffer.alloc(16), { unique: 6, nodeid: 1 }));
  process.stdout.write(`GETATTR ${(await wait(6)).error}\n`);
  session.close();
  await session.closed;
  process.exit(0);
}
main();
