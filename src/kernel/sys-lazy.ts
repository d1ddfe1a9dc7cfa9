// The native addon (src/sys), loaded at its first use rather than with the module that uses it:
// the session and mount() import the probe, fusermount3 and watchdog modules, and a program
// that only decodes, or serves a filesystem as root without passthrough, should load no addon
// (and one without a built addon should still load the library).
export function sys(): typeof import('../sys/index') {
  return require('../sys/index') as typeof import('../sys/index');
}
