// POSIX-shell-like word splitting for a command line, and nothing more: no globbing, no variables,
// no command substitution. `$(id)` stays the literal string "$(id)".
import { CommandError } from '../errors.js'

export const MAX_LINE_BYTES = 64 * 1024

export function tokenize(line: string): string[] {
  if (Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) {
    throw new CommandError('payload_too_large', `command is longer than ${MAX_LINE_BYTES / 1024} KiB`)
  }
  if (line.includes('\0')) throw new CommandError('usage', 'command contains a NUL byte')
  const words: string[] = []
  let word = ''
  let inWord = false
  let i = 0
  const n = line.length
  while (i < n) {
    const c = line[i]
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) throw unbalanced("'")
      word += line.slice(i + 1, end)
      inWord = true
      i = end + 1
    } else if (c === '"') {
      i++
      for (;;) {
        if (i >= n) throw unbalanced('"')
        const d = line[i]
        if (d === '"') { i++; break }
        // Inside double quotes a backslash escapes only these, as in sh.
        if (d === '\\' && i + 1 < n && '"\\$`\n'.includes(line[i + 1])) {
          if (line[i + 1] !== '\n') word += line[i + 1]
          i += 2
          continue
        }
        word += d
        i++
      }
      inWord = true
    } else if (c === '\\') {
      if (i + 1 >= n) throw new CommandError('usage', 'command ends with a lone backslash', { hint: "escape it as '\\\\' or quote it" })
      if (line[i + 1] !== '\n') { word += line[i + 1]; inWord = true }
      i += 2
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) { words.push(word); word = ''; inWord = false }
      i++
    } else {
      word += c
      inWord = true
      i++
    }
  }
  if (inWord) words.push(word)
  return words
}

function unbalanced(q: string): CommandError {
  return new CommandError('usage', `unbalanced ${q === "'" ? 'single' : 'double'} quote in command`, {
    hint: `close the ${q} or escape it with a backslash`,
  })
}

/** Quote a word so tokenize() returns it unchanged (for joining argv back into one line). */
export function quote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word
  return `'${word.replace(/'/g, `'\\''`)}'`
}
