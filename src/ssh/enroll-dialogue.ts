// The lobby's conversation with a verified key that has no account: bootstrap code (first run)
// or open signup, then an email. Returns the new user's identity, or undefined to end the session.
import type { Identity } from './auth.js'
import type { Enrollment } from './enrollment.js'
import { CommandError } from '../errors.js'

const MAX_TRIES = 3

export interface DialogueIo {
  enrollment: Enrollment
  identity: Identity
  ask(prompt: string): Promise<string | undefined>
  say(text: string): Promise<void>
  /** Take a line back out of the history (the bootstrap code is a secret). */
  forget(line: string): void
  sshHint: string
}

export async function enrollDialogue(io: DialogueIo): Promise<Identity | undefined> {
  const me = io.identity
  if (me.kind !== 'newcomer') return me
  const { enrollment } = io
  let kind: 'bootstrap' | 'signup'
  if (enrollment.bootstrapPending) {
    kind = 'bootstrap'
    await io.say(`This boxd has no accounts yet. Type the one-time bootstrap code that \`boxd serve\` printed\n(also in ${enrollment.codePath}); your key ${me.key.fingerprint} becomes the first admin.\n`)
    let ok = false
    for (let i = 0; i < MAX_TRIES && !ok; i++) {
      const typed = await io.ask('bootstrap code: ')
      if (typed === undefined) return undefined
      io.forget(typed)
      // Each wrong code costs a try; three and the session ends (the code has 100 bits anyway).
      ok = enrollment.checkCode(typed)
      if (!ok) await io.say(enrollment.bootstrapPending ? 'that is not the code\n' : 'the bootstrap code has been used meanwhile\n')
    }
    if (!ok) return undefined
  } else if (enrollment.signupOpen) {
    kind = 'signup'
    await io.say(`Welcome to boxd! Your key ${me.key.fingerprint} has no account here yet.\nEnter your email to create one (Ctrl-D to leave).\n`)
  } else {
    await io.say(`error: this key has no account\n`)
    return undefined
  }
  for (let i = 0; i < MAX_TRIES; i++) {
    const email = await io.ask('email: ')
    if (email === undefined) return undefined
    try {
      const user = enrollment.enroll(kind, email, me.key.canonical)
      await io.say(`Account created: ${user.email} (${user.role}), key ${me.key.fingerprint}.\nFrom now on: ${io.sshHint} whoami\n`)
      return {
        kind: 'user',
        principal: { user: { id: user.id, email: user.email, role: user.role }, via: 'ssh-key', keyFingerprint: me.key.fingerprint, remoteAddress: me.remoteAddress },
      }
    } catch (e) {
      if (!(e instanceof CommandError)) throw e
      await io.say(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`)
      // A typo or a taken email may be retried; a code used meanwhile or signup closed may not.
      if (kind === 'bootstrap' ? !enrollment.bootstrapPending : !enrollment.signupOpen) return undefined
    }
  }
  return undefined
}
