// Every verb, listed explicitly: the type checker and the registry invariants see the whole tree.
import type { Command } from '../src/registry/types.js'
import help from './help.js'
import whoami from './whoami.js'
import sshKeyAdd from './ssh-key/add.js'
import sshKeyList from './ssh-key/list.js'
import sshKeyRemove from './ssh-key/remove.js'
import sshKeyRename from './ssh-key/rename.js'

export const commands: Command[] = [
  help,
  whoami,
  sshKeyList,
  sshKeyAdd,
  sshKeyRemove,
  sshKeyRename,
]
