// What operations need from the machine service, read defensively: ops is built before (and
// independently of) machines, and works — with fewer answers — when there is none.
export interface MachineHooks {
  /** Is the driver usable? (health `driver` check) */
  health?(): Promise<{ ok: boolean; detail?: string }>
  /** Delete every machine of a user, driver resources included (`user rm`); returns how many. */
  removeAllFor?(userId: string): Promise<number>
}

/** Counts read straight from the machines table (src/store/machines.ts), when it exists. */
interface MachineCounts {
  countForUser?(userId: string): number
  countByStatus?(): Record<string, number>
}

export function machineHooks(services: object): MachineHooks | undefined {
  const m = (services as { machines?: unknown }).machines
  return typeof m === 'object' && m !== null ? (m as MachineHooks) : undefined
}

function counts(store: object): MachineCounts | undefined {
  const m = (store as { machines?: unknown }).machines
  return typeof m === 'object' && m !== null ? (m as MachineCounts) : undefined
}

export function machineCountFor(store: object, userId: string): number {
  return counts(store)?.countForUser?.(userId) ?? 0
}

export function machinesByState(store: object): Record<string, number> | undefined {
  return counts(store)?.countByStatus?.()
}
