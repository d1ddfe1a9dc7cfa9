// Mount options: typed, validated, and turned into the mount(8) command line (no mounting here).
import t from 'tap';
import { fusermountOptions, mountArgs, resolveMountOptions } from '../src/kernel/mount';
import { connectionId } from '../src/kernel/device';

t.test('the mount(8) command line', async (t) => {
  t.same(mountArgs('/mnt/x', { userId: 1000, groupId: 100 }), [
    '-i', '-t', 'fuse.tsfuse', '-o', 'fd=3,rootmode=40000,user_id=1000,group_id=100,nosuid,nodev', 'tsfuse', '/mnt/x',
  ], '-i (no mount.fuse3 helper) and the four options the kernel requires');
  t.same(mountArgs('/mnt/x', { fsname: '/src/dir', subtype: 'loop', allowOther: true, defaultPermissions: true, maxRead: 131072, readOnly: true, userId: 0, groupId: 0 }), [
    '-i', '-t', 'fuse.loop', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions,max_read=131072,ro,nosuid,nodev', '/src/dir', '/mnt/x',
  ]);
  t.equal(mountArgs('rel', {})[6], `${process.cwd()}/rel`, 'a relative mountpoint is made absolute');
  t.match(mountArgs('/m', { rootMode: 0o100644 })[4], /rootmode=100644/, 'rootmode in octal');
  t.match(mountArgs('/m', { suid: true, dev: true, noexec: true, atime: 'noatime' })[4], /,suid,dev,noexec,noatime$/, 'suid and dev only when asked');
});

t.test("fusermount3's -o list: no fd/rootmode/user_id (it sets them), no auto_unmount (the watchdog's job)", async (t) => {
  t.equal(fusermountOptions('/m', { fsname: '/src', allowOther: true, autoUnmount: true }), 'fsname=/src,subtype=tsfuse,allow_other,nosuid,nodev');
  t.equal(fusermountOptions('/m', { readOnly: true, atime: 'strictatime' }), 'fsname=tsfuse,subtype=tsfuse,ro,nosuid,nodev,strictatime');
});

t.test('the route: mount(8) for root unless it asks for fusermount3, fusermount3 for others', async (t) => {
  const geteuid = process.geteuid;
  t.teardown(() => {
    process.geteuid = geteuid;
  });
  process.geteuid = () => 0;
  t.equal(resolveMountOptions('/m', {}).via, 'mount');
  t.equal(resolveMountOptions('/m', { autoUnmount: true }).via, 'mount');
  t.equal(resolveMountOptions('/m', { via: 'fusermount3' }).via, 'fusermount3');
  process.geteuid = () => 1000;
  t.equal(resolveMountOptions('/m', {}).via, 'fusermount3');
});

t.test('invalid options are refused with EINVAL naming the option', async (t) => {
  const bad: [object, RegExp][] = [
    [{ fsname: '-o' }, /fsname/],
    [{ fsname: 'a b' }, /fsname/],
    [{ subtype: 'a,b' }, /subtype/],
    [{ subtype: '' }, /subtype/],
    [{ maxRead: 0 }, /maxRead/],
    [{ maxRead: 1.5 }, /maxRead/],
    [{ userId: -1 }, /userId/],
    [{ groupId: 2 ** 32 - 1 }, /groupId/],
    [{ rootMode: 0o755 }, /rootMode/],
    [{ allowOther: 'yes' }, /allowOther/],
    [{ atime: 'sometimes' }, /atime/],
    [{ via: 'sudo' }, /via/],
  ];
  for (const [options, re] of bad) {
    t.throws(() => resolveMountOptions('/m', options), { name: 'MountError', code: 'EINVAL', message: re }, JSON.stringify(options));
  }
  t.match(resolveMountOptions('/m', {}), { fsname: 'tsfuse', subtype: 'tsfuse', rootMode: 0o40000, allowOther: false });
});

t.test('the fusectl connection id comes from mountinfo, never from a stat of the mount', async (t) => {
  const info = [
    '22 1 0:21 / /proc rw - proc proc rw',
    '40 22 0:52 / /mnt/a\\040b rw,relatime - fuse.tsfuse tsfuse rw,user_id=0,group_id=0',
    '41 22 0:53 / /mnt/c rw - tmpfs tmpfs rw',
    '42 22 0:54 / /mnt/a\\040b rw - fuse.other x rw',
  ].join('\n');
  t.equal(connectionId('/mnt/a b', info), 54, 'the mount on top, with mountinfo escapes undone');
  t.equal(connectionId('/mnt/c', info), undefined, 'not FUSE');
  t.equal(connectionId('/nowhere', info), undefined);
});
