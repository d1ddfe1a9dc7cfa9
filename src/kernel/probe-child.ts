// Entry point of the probe's live check inside a new user and mount namespace, started by
// probe.ts as `unshare -Urm node probe-child.js MOUNTPOINT [BACKING_DIR]` when the probe's own
// process may not mount. Prints the LiveReport as JSON. It needs no signal handling: whatever
// ends this process ends its mount namespace, and the throw-away mount with it.
import { liveProbe } from './probe-live';

const [mountpoint, backingDir] = process.argv.slice(2);
process.stdout.write(JSON.stringify(liveProbe({ mountpoint, backingDir })));
