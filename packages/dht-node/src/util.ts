import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { publicKeyFromAddress } from '@araliya/identity'
import { InvalidInputError } from '@araliya/interface'
import { setMaxListeners } from 'main-event'

/**
 * One signal for an operation of a running service: aborted when the service stops, when the caller's
 * signal fires, or after `timeoutMs`.
 */
export function operationSignal(base: AbortSignal, signal?: AbortSignal, timeoutMs?: number): AbortSignal {
  const signals = [base]
  if (signal !== undefined) signals.push(signal)
  if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs))
  const combined = AbortSignal.any(signals)
  // Every in-flight operation listens on the service's signal.
  setMaxListeners(Number.POSITIVE_INFINITY, combined)
  return combined
}

/** A fresh controller whose signal may have any number of listeners. */
export function serviceController(): AbortController {
  const controller = new AbortController()
  setMaxListeners(Number.POSITIVE_INFINITY, controller.signal)
  return controller
}

/** A component that may be absent (libp2p's components proxy throws for a missing service). */
export function optionalComponent<T>(components: object, name: string): T | undefined {
  try {
    return (components as Record<string, unknown>)[name] as T | undefined
  } catch (err) {
    // The service is not configured, which is allowed for optional ones; anything else is a bug.
    if ((err as Error)?.name === 'MissingServiceError') return undefined
    throw err
  }
}

export function sameAddrs(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const sorted = [...b].sort()
  return [...a].sort().every((value, i) => value === sorted[i])
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

/**
 * Addresses from callers are checked by identity's one strict parser before libp2p sees them, so a
 * look-alike or a second spelling of a key never reaches a DHT query or a dial.
 */
export function assertAgentAddress(address: string): void {
  try {
    publicKeyFromAddress(address)
  } catch (err) {
    throw new InvalidInputError(
      `"${String(address).slice(0, 80)}" is not an agent address: ${(err as Error).message}`,
      { cause: err }
    )
  }
}

/** The part of libp2p's connection manager (`components.connectionManager`) Araliya's services use. */
export interface ConnectionManagerLike {
  getConnections(peerId?: PeerId): Connection[]
  openConnection(
    peer: PeerId | Multiaddr | Multiaddr[],
    options?: { signal?: AbortSignal }
  ): Promise<Connection>
}
