import t from 'tap'
import * as sys from '../src/sys'
import { spawnSync } from 'node:child_process'

const ulimit = (flag: string): number =>
  Number(spawnSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).stdout.trim())

t.test('raiseNofileLimit lifts the soft limit as far as the process may', async (t) => {
  const hard = ulimit('-Hn')
  const want = hard * 2
  const now = sys.raiseNofileLimit(want)
  // Root raises the hard limit too when it has CAP_SYS_RESOURCE; without it the hard limit caps.
  t.ok(now >= hard, `soft limit ${now} reaches at least the old hard limit ${hard}`)
  t.equal(ulimit('-n'), now, 'a child inherits the raised soft limit')
  t.equal(sys.raiseNofileLimit(1), now, 'never lowers the limit')
})
