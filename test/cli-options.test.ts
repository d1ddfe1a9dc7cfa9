// Option resolution, tested as a function: command line > environment > config file > default.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { commonOptions } from '../src/cli/command';
import { expandOptionKeys, fromMountHelper } from '../src/cli/mount-helper';
import { mountOptions } from '../src/cli/commands/mount';
import { umountOptions } from '../src/cli/commands/umount';
import { UsageError } from '../src/cli/errors';
import {
  envName,
  flagName,
  normalizeArgs,
  parseMountOptions,
  parseSeconds,
  readConfigFile,
  resolveOptions,
  type ConfigFile,
} from '../src/cli/options';
import { tempDir as sharedTempDir } from './helpers/tmp';

const TABLES = [commonOptions, mountOptions, umountOptions];

const tempDir = (t: Test): string => sharedTempDir(t, 'tsfuse-cli-opts-');

function config(values: Record<string, unknown>, file = '/etc/tsfuse/config.json'): ConfigFile {
  return { path: file, values };
}

t.test('names come from the table key', async (t) => {
  t.equal(flagName('attrTimeout'), 'attr-timeout');
  t.equal(envName('attrTimeout'), 'TSFUSE_ATTR_TIMEOUT');
  t.equal(envName('options'), 'TSFUSE_OPTIONS');
  t.equal(envName('maxStackDepth'), 'TSFUSE_MAX_STACK_DEPTH');
});

t.test('defaults apply when no layer sets an option', async (t) => {
  const o = resolveOptions(mountOptions, { cli: {}, env: {}, cwd: '/' });
  t.equal(o.attrTimeout, 1);
  t.equal(o.entryTimeout, 1);
  t.equal(o.negativeTimeout, 0);
  t.equal(o.passthrough, 'off');
  t.equal(o.maxStackDepth, 1);
  t.equal(o.debug, false);
  t.equal(o.daemon, false);
  t.equal(o.statsFile, undefined);
  t.same(o.options, { allowOther: false, defaultPermissions: false, readOnly: false });
});

t.test('command line beats environment beats config file, per option', async (t) => {
  const o = resolveOptions(mountOptions, {
    cli: { attrTimeout: '3' },
    env: { TSFUSE_ATTR_TIMEOUT: '4', TSFUSE_ENTRY_TIMEOUT: '5' },
    config: config({ attrTimeout: 6, entryTimeout: 7, passthrough: 'ro', debug: true }),
    cwd: '/',
  });
  t.equal(o.attrTimeout, 3, 'command line wins over environment and config');
  t.equal(o.entryTimeout, 5, 'environment wins over config');
  t.equal(o.passthrough, 'ro', 'config wins over default');
  t.equal(o.debug, true);
  t.equal(o.maxStackDepth, 1, 'default when nobody sets it');
});

t.test('an invalid value in a lower layer does not matter when a higher one sets the option', async (t) => {
  const o = resolveOptions(mountOptions, {
    cli: { attrTimeout: '2' },
    env: { TSFUSE_ATTR_TIMEOUT: 'soon' },
    config: config({ attrTimeout: 'later' }),
    cwd: '/',
  });
  t.equal(o.attrTimeout, 2);
});

t.test('errors name the layer the bad value came from', async (t) => {
  t.throws(() => resolveOptions(mountOptions, { cli: { attrTimeout: 'x' }, env: {}, cwd: '/' }), {
    message: /^--attr-timeout: expected a number of seconds/,
  });
  t.throws(() => resolveOptions(mountOptions, { cli: {}, env: { TSFUSE_ATTR_TIMEOUT: '-1' }, cwd: '/' }), {
    message: /^TSFUSE_ATTR_TIMEOUT: expected a number of seconds/,
  });
  t.throws(() => resolveOptions(mountOptions, { cli: {}, env: {}, config: config({ maxStackDepth: 3 }), cwd: '/' }), {
    message: /^\/etc\/tsfuse\/config\.json: "max-stack-depth": expected 1 or 2, got 3/,
  });
  t.throws(() => resolveOptions(mountOptions, { cli: {}, env: { TSFUSE_DEBUG: 'yes' }, cwd: '/' }), UsageError);
});

t.test('value parsing is strict', async (t) => {
  t.equal(parseSeconds('0.5'), 0.5);
  t.equal(parseSeconds(0), 0);
  for (const bad of ['', '1e3', '1s', '-1', 'NaN', 'Infinity', -2, null]) {
    t.throws(() => parseSeconds(bad), `rejects ${JSON.stringify(bad)}`);
  }
  const env = (value: string) => resolveOptions(mountOptions, { cli: {}, env: { TSFUSE_DEBUG: value }, cwd: '/' }).debug;
  t.equal(env('1'), true);
  t.equal(env('true'), true);
  t.equal(env('0'), false);
  t.equal(env('FALSE'), false);
  const pt = (value: unknown) => resolveOptions(mountOptions, { cli: { passthrough: value }, env: {}, cwd: '/' }).passthrough;
  t.equal(pt('require'), 'require');
  t.equal(pt(false), 'off', '--no-passthrough');
  t.throws(() => pt('yes'));
});

t.test('a repeated flag: the last wins, except -o which accumulates', async (t) => {
  const o = resolveOptions(mountOptions, {
    cli: { attrTimeout: ['1', '9'], options: ['ro', 'allow_other,fsname=x'] },
    env: {},
    cwd: '/',
  });
  t.equal(o.attrTimeout, 9);
  t.same(o.options, { allowOther: true, defaultPermissions: false, readOnly: true, fsname: 'x' });
});

t.test('-o on the command line replaces TSFUSE_OPTIONS', async (t) => {
  const o = resolveOptions(mountOptions, { cli: { options: 'ro' }, env: { TSFUSE_OPTIONS: 'allow_other' }, cwd: '/' });
  t.same(o.options, { allowOther: false, defaultPermissions: false, readOnly: true });
});

t.test('-o understands the usual FUSE options', async (t) => {
  t.same(parseMountOptions('allow_other,default_permissions,ro,fsname=src,subtype=mirror'), {
    allowOther: true,
    defaultPermissions: true,
    readOnly: true,
    fsname: 'src',
    subtype: 'mirror',
  });
  t.equal(parseMountOptions('ro,rw').readOnly, false, 'the later of ro/rw wins');
  t.same(parseMountOptions(['ro', 'allow_other']).allowOther, true, 'JSON arrays and repeated -o');
  t.throws(() => parseMountOptions('nonempty'), { message: /unknown mount option 'nonempty'/ });
  t.throws(() => parseMountOptions('fsname='), { message: /fsname= needs a name/ });
  t.throws(() => parseMountOptions('fsname=a=b'), { message: /fsname= needs a name/ });
  t.throws(() => parseMountOptions('subtype=a\\b'), { message: /subtype= needs a name/ });
  t.throws(() => parseMountOptions('ro=1'), { message: /ro takes no value/ });
  t.throws(() => parseMountOptions(3));
});

t.test('relative paths: from the cwd on the command line and in the environment, from the file in a config', async (t) => {
  const o = resolveOptions(mountOptions, {
    cli: { statsFile: 'stats.json' },
    env: { TSFUSE_LOG_FILE: 'log.txt' },
    cwd: '/srv/app',
  });
  t.equal(o.statsFile, '/srv/app/stats.json');
  t.equal(o.logFile, '/srv/app/log.txt');
  const c = resolveOptions(mountOptions, { cli: {}, env: {}, config: config({ statsFile: 'stats.json' }, '/etc/tsfuse/c.json'), cwd: '/srv/app' });
  t.equal(c.statsFile, '/etc/tsfuse/stats.json');
});

t.test('the readiness fd is internal: no environment variable sets it', async (t) => {
  const o = resolveOptions(mountOptions, { cli: {}, env: { TSFUSE_READY_FD: '3' }, cwd: '/' });
  t.equal(o.readyFd, undefined);
  t.equal(resolveOptions(mountOptions, { cli: { readyFd: '3' }, env: {}, cwd: '/' }).readyFd, 3);
});

t.test('config files: JSON object, known keys in either spelling', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'tsfuse.json');
  fs.writeFileSync(file, JSON.stringify({ 'attr-timeout': 2, entryTimeout: 3, options: ['ro'], lazy: true }));
  const c = readConfigFile(file, TABLES);
  t.same(c.values, { attrTimeout: 2, entryTimeout: 3, options: ['ro'], lazy: true });
  t.equal(resolveOptions(umountOptions, { cli: {}, env: {}, config: c, cwd: '/' }).lazy, true);

  fs.writeFileSync(file, JSON.stringify({ 'attr-timout': 2 }));
  t.throws(() => readConfigFile(file, TABLES), { message: /unknown option "attr-timout"/ });
  fs.writeFileSync(file, JSON.stringify({ wait: 3 }));
  t.throws(() => readConfigFile(file, [commonOptions, mountOptions], () => 'an option of umount'),
    { message: /unknown option "wait" \(an option of umount; known: options, / }, "another command's option is unknown here");
  fs.writeFileSync(file, JSON.stringify({ config: 'other.json' }));
  t.throws(() => readConfigFile(file, TABLES), { message: /unknown option "config"/ }, 'no nested config files');
  fs.writeFileSync(file, JSON.stringify({ readyFd: 3 }));
  t.throws(() => readConfigFile(file, TABLES), { message: /unknown option "readyFd"/ }, 'internal options stay internal');
  fs.writeFileSync(file, '{"attr-timeout": 2,');
  t.throws(() => readConfigFile(file, TABLES), { message: /not valid JSON/ });
  fs.writeFileSync(file, '[1]');
  t.throws(() => readConfigFile(file, TABLES), { message: /expected a JSON object/ });
  t.throws(() => readConfigFile(path.join(dir, 'missing.json'), TABLES), { message: /no such file/ });
  t.throws(() => readConfigFile(dir, TABLES), { message: /is a directory/ });
});

t.test('--config itself comes from the command line or TSFUSE_CONFIG', async (t) => {
  t.equal(resolveOptions(commonOptions, { cli: {}, env: { TSFUSE_CONFIG: 'c.json' }, cwd: '/x' }).config, '/x/c.json');
  t.equal(resolveOptions(commonOptions, { cli: { config: '/a.json' }, env: { TSFUSE_CONFIG: 'c.json' }, cwd: '/x' }).config, '/a.json');
});

t.test('normalizeArgs: --passthrough alone means rw', async (t) => {
  t.same(normalizeArgs(['mount', '--passthrough', 'src', 'mnt'], TABLES), ['mount', '--passthrough=rw', 'src', 'mnt']);
  t.same(normalizeArgs(['mount', 'src', 'mnt', '--passthrough'], TABLES), ['mount', 'src', 'mnt', '--passthrough=rw']);
  t.same(normalizeArgs(['mount', '--passthrough', '--debug', 's', 'm'], TABLES), ['mount', '--passthrough=rw', '--debug', 's', 'm']);
  t.same(normalizeArgs(['mount', '--passthrough', 'ro', 's', 'm'], TABLES), ['mount', '--passthrough', 'ro', 's', 'm']);
  t.same(normalizeArgs(['mount', '--passthrough=wo', 's', 'm'], TABLES), ['mount', '--passthrough=wo', 's', 'm']);
  t.same(normalizeArgs(['mount', '--', '--passthrough'], TABLES), ['mount', '--', '--passthrough'], 'nothing after --');
});

t.test('normalizeArgs: a word --passthrough refused is its bad value when it is one positional too many', async (t) => {
  const mount = { positionals: 3 };
  t.throws(() => normalizeArgs(['mount', '--passthrough', 'bogus', 's', 'm'], TABLES, mount),
    { message: /^--passthrough: expected one of off\|ro\|wo\|rw\|require, got 'bogus'$/ });
  t.throws(() => normalizeArgs(['mount', 's', 'm', '--passthrough', 'bogus'], TABLES, mount), { message: /got 'bogus'/ });
  t.same(normalizeArgs(['mount', '--passthrough', 's', 'm'], TABLES, mount), ['mount', '--passthrough=rw', 's', 'm'], 'SRC, not a bad mode');
});

t.test('normalizeArgs: an option in none of the tables is unknown, as typed', async (t) => {
  t.throws(() => normalizeArgs(['mount', 's', 'm', '--attr-timout', '5'], TABLES), { message: /^unknown option --attr-timout$/ });
  t.throws(() => normalizeArgs(['mount', '--foo', 's', 'm'], TABLES), { message: /^unknown option --foo$/ });
  t.throws(() => normalizeArgs(['mount', '--foo=1', 's', 'm'], TABLES), { message: /^unknown option --foo$/ });
  t.throws(() => normalizeArgs(['mount', '-x', 's', 'm'], TABLES), { message: /^unknown option -x$/ });
  t.throws(() => normalizeArgs(['umount', '--debug', 'm'], [commonOptions, umountOptions], { elsewhere: () => 'an option of mount' }),
    { message: /^unknown option --debug \(an option of mount\)$/ });
  t.same(normalizeArgs(['mount', '--no-debug', '-h', '--version', 's', 'm'], TABLES), ['mount', '--no-debug', '-h', '--version', 's', 'm'],
    "yargs' own flags and --no-BOOLEAN pass");
  t.same(normalizeArgs(['mount', '--', '--foo'], TABLES), ['mount', '--', '--foo'], 'nothing after -- is an option');
});

t.test('normalizeArgs: every value on the command line is checked, in both spellings', async (t) => {
  t.throws(() => normalizeArgs(['mount', '--attr-timeout=soon'], TABLES), { message: /^--attr-timeout: expected a number of seconds/ });
  t.throws(() => normalizeArgs(['mount', '--attr-timeout', '-1'], TABLES), { message: /^--attr-timeout: .*got '-1'/ }, 'a negative number is a value');
  t.same(normalizeArgs(['mount', '--attr-timeout', '1.5', 's'], TABLES), ['mount', '--attr-timeout', '1.5', 's']);
  t.same(normalizeArgs(['mount', 's', '--attr-timeout'], TABLES), ['mount', 's', '--attr-timeout'], 'no value: yargs says so');
});

t.test('normalizeArgs: --flag=VALUE on a boolean must be true or false', async (t) => {
  t.same(normalizeArgs(['--debug=false'], TABLES), ['--debug=false']);
  t.throws(() => normalizeArgs(['--debug=yes'], TABLES), { message: /^--debug: expected true or false, got 'yes'/ });
  t.throws(() => normalizeArgs(['-l=now'], TABLES), UsageError);
});

t.test('the mount.fuse3 command line: `tsfuse SRC MNT -o OPTS` is a daemon mount; -o keys name options', async (t) => {
  const commands = ['mount', 'umount'];
  t.same(fromMountHelper(['/srv/a', '/mnt/b', '-o', 'rw'], commands), ['mount', '--daemon', '/srv/a', '/mnt/b', '-o', 'rw']);
  t.same(fromMountHelper(['mont', 'a', 'b'], commands), ['mont', 'a', 'b'], 'a mistyped command stays one');
  t.same(fromMountHelper(['mount', '/a', '/b'], commands), ['mount', '/a', '/b']);
  t.same(
    expandOptionKeys(['mount', '/a', '/b', '-o', 'rw,passthrough=rw,attr_timeout=2,debug,allow_other,dev,suid'], mountOptions),
    ['mount', '/a', '/b', '--passthrough=rw', '--attr-timeout=2', '--debug', '-o', 'rw,allow_other,dev,suid'],
  );
  t.same(expandOptionKeys(['-oauto_unmount', '--', '-o', 'debug'], mountOptions), ['--auto-unmount', '--', '-o', 'debug'], 'nothing after --');
});

t.test('-o: the options users expect, nosuid,nodev unless asked, x-* and mount(8)\'s own ignored', async (t) => {
  t.same(parseMountOptions('suid,dev,noexec,noatime,max_read=65536,allow_root,auto_unmount,x-systemd.automount,noauto,nofail'), {
    allowOther: false,
    defaultPermissions: false,
    readOnly: false,
    suid: true,
    dev: true,
    noexec: true,
    atime: 'noatime',
    maxRead: 65536,
    allowRoot: true,
    autoUnmount: true,
  });
  t.same(parseMountOptions('suid,nosuid').suid, false, 'the later one wins');
  t.throws(() => parseMountOptions('max_read=lots'), { message: /max_read= needs a positive number/ });
  t.throws(() => parseMountOptions('a,ro,b'), { message: /^unknown mount options 'a', 'b' \(known: / });
});
