// Every verb, listed explicitly: the type checker and the registry invariants see the whole tree.
import type { Command } from '../src/registry/types.js'
import help from './help.js'
import whoami from './whoami.js'
import sshKeyAdd from './ssh-key/add.js'
import sshKeyList from './ssh-key/list.js'
import sshKeyRemove from './ssh-key/remove.js'
import sshKeyRename from './ssh-key/rename.js'
import sshKeyGenerateApiKey from './ssh-key/generate-api-key.js'
import tokenShorten from './token/shorten.js'
import tokenLs from './token/ls.js'
import tokenRevoke from './token/revoke.js'
import newMachine from './new.js'
import ls from './ls.js'
import stat from './stat.js'
import start from './start.js'
import stop from './stop.js'
import restart from './restart.js'
import rm from './rm.js'
import rename from './rename.js'
import tag from './tag.js'
import comment from './comment.js'
import rebuild from './rebuild.js'
import portOpen from './port/open.js'
import portClose from './port/close.js'
import portLs from './port/ls.js'
import shareShow from './share/show.js'
import sharePort from './share/port.js'
import shareSetPublic from './share/set-public.js'
import shareSetPrivate from './share/set-private.js'
import shareAdd from './share/add.js'
import shareRemove from './share/remove.js'
import browser from './browser.js'
import audit from './audit.js'
import events from './events.js'
import webhookAdd from './webhook/add.js'
import webhookLs from './webhook/ls.js'
import webhookRm from './webhook/rm.js'
import webhookTest from './webhook/test.js'
import webhookDeliveries from './webhook/deliveries.js'
import webhookRedeliver from './webhook/redeliver.js'
import userLs from './user/ls.js'
import userAdd from './user/add.js'
import userDisable from './user/disable.js'
import userEnable from './user/enable.js'
import userExpire from './user/expire.js'
import userRm from './user/rm.js'
import userSetRole from './user/set-role.js'
import taskShow from './task/show.js'
import taskLs from './task/ls.js'

export const commands: Command[] = [
  help,
  whoami,
  sshKeyList,
  sshKeyAdd,
  sshKeyRemove,
  sshKeyRename,
  sshKeyGenerateApiKey,
  tokenShorten,
  tokenLs,
  tokenRevoke,
  newMachine,
  ls,
  stat,
  start,
  stop,
  restart,
  rm,
  rename,
  tag,
  comment,
  rebuild,
  portOpen,
  portClose,
  portLs,
  shareShow,
  sharePort,
  shareSetPublic,
  shareSetPrivate,
  shareAdd,
  shareRemove,
  browser,
  audit,
  events,
  webhookAdd,
  webhookLs,
  webhookRm,
  webhookTest,
  webhookDeliveries,
  webhookRedeliver,
  userLs,
  userAdd,
  userDisable,
  userEnable,
  userExpire,
  userRm,
  userSetRole,
  taskShow,
  taskLs,
]
