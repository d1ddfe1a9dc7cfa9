/**
 * One client process of the concurrent small-file workloads, in Node: the
 * same arguments, handshake and output as bench/client.c, for machines
 * without a C compiler (`tsfuse bench --client node`).
 *
 *   node dist/bench/client.js create|read|stat DIR COUNT SIZE
 */
import * as fs from 'node:fs';

function main(argv: readonly string[]): number {
  const [phase, dir, countArg, sizeArg] = argv;
  const count = Number(countArg);
  const size = Number(sizeArg);
  if (argv.length !== 4 || !['create', 'read', 'stat'].includes(phase) || !(count >= 1) || !(size >= 1 && size <= 2 ** 20)) {
    process.stderr.write('usage: client.js create|read|stat DIR COUNT SIZE\n');
    return 2;
  }
  const buf = Buffer.alloc(size, 'x');
  const paths = Array.from({ length: count }, (_, i) => `${dir}/f${i}`);
  fs.writeSync(1, 'ready\n');
  const go = Buffer.alloc(1);
  for (;;) {
    try {
      if (fs.readSync(0, go, 0, 1, null) !== 1) return 1; // the driver gave up: do nothing
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EAGAIN') throw err;
    }
  }
  // process.hrtime reads CLOCK_MONOTONIC, as the C client does.
  const start = process.hrtime.bigint();
  const flags = phase === 'create' ? fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC : fs.constants.O_RDONLY;
  for (const p of paths) {
    if (phase === 'stat') {
      fs.statSync(p);
      continue;
    }
    const fd = fs.openSync(p, flags, 0o644);
    const n = phase === 'create' ? fs.writeSync(fd, buf, 0, size) : fs.readSync(fd, buf, 0, size, null);
    if (n !== size) throw new Error(`${phase} ${p}: short (${n} of ${size} bytes)`);
    fs.closeSync(fd);
  }
  const end = process.hrtime.bigint();
  fs.writeSync(1, `${start} ${end}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
