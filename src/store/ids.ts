import { randomBytes } from 'node:crypto'

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** Random lowercase base32: `n` chars = 5n bits. */
export function randomBase32(n: number): string {
  const bytes = randomBytes(n)
  let s = ''
  for (let i = 0; i < n; i++) s += ALPHABET[bytes[i] & 31]
  return s
}

/** `usr_k3j…`: a prefix says what an id is when it shows up in a log. */
export const newId = (prefix: string) => `${prefix}_${randomBase32(16)}`
