#!/usr/bin/env node
import { main } from './cli';

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err: unknown) => {
    process.stderr.write(`tsfuse: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
