// Human output helpers. Pure: data in, text out.

/** An aligned table; `cols` maps a header to how to read a cell. Empty lists say so. */
export function table<T>(rows: readonly T[], cols: Record<string, (row: T) => unknown>, empty = '(none)'): string {
  if (rows.length === 0) return empty
  const headers = Object.keys(cols)
  const cells = rows.map((r) => headers.map((h) => cell(cols[h](r))))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (vals: string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]))).join('  ').trimEnd()
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join('\n')
}

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-'
  if (Array.isArray(v)) return v.length ? v.join(',') : '-'
  // Control characters from stored data never reach a terminal raw.
  return String(v).replace(/[\x00-\x1f\x7f]/g, '?')
}

/** "2026-11-23T10:00:00.000Z" → "2026-11-23 10:00" for tables. */
export const shortTime = (iso: string | null | undefined) => (iso ? iso.slice(0, 16).replace('T', ' ') : '-')
