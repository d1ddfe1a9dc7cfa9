// The sample memfs served from a process of its own (helpers/mounted.ts mountInChild).
// argv: MNT OPTIONS_JSON. Prints "ready" once mounted, then answers one line per command line on
// stdin: "stats" (the session's request counters as JSON), "unmount" (lazy unmount, then exit).
// SIGTERM unmounts and exits: the event loop is free while the mount is idle, so a signal
// handler runs.
import { mount } from '../../src/fs/mount';
import { sampleFs } from './memfs';

async function main(): Promise<void> {
  const [mnt, json] = process.argv.slice(2);
  const { timeout } = JSON.parse(json) as { timeout?: number };
  const handle = await mount(sampleFs({ timeout }), mnt);
  const stop = (): void => {
    handle.unmount({ lazy: true }).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.stdout.write('ready\n');
  let buf = '';
  process.stdin.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'stats') void handle.stats().then((s) => process.stdout.write(JSON.stringify(s) + '\n'));
      else if (line === 'unmount') stop();
      else process.stdout.write(`unknown command ${line}\n`);
    }
  });
}

main().catch((err) => {
  process.stdout.write(`error ${err?.message ?? err}\n`);
  process.exit(1);
});
