import type { AbortOptions } from '@araliya/interface'

/**
 * Signs raw bytes with one private key. It reads `message` before it returns (a signer that works
 * asynchronously copies it first), so the caller may reuse the buffer at once.
 */
export type RawSigner = (message: Uint8Array) => Uint8Array | Promise<Uint8Array>

/** An ed25519 implementation: node:crypto, WebCrypto, or @noble/ed25519. */
export interface Ed25519Backend {
  /** Which implementation this is, for diagnostics and benchmarks. */
  readonly name: 'node:crypto' | 'webcrypto' | 'noble'
  /** Prepares a signer for a 32-byte seed (cache any key objects it needs). */
  createSigner(seed: Uint8Array): Promise<RawSigner>
  /**
   * The 32-byte public key of a seed, where the platform derives it natively (node:crypto); absent
   * where it does not, and @libp2p/crypto derives it.
   */
  publicKey?(seed: Uint8Array): Uint8Array
  /**
   * Verifies a raw ed25519 signature (RFC 8032, cofactorless). Never throws for bad input: a malformed
   * key or signature is simply `false`.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean | Promise<boolean>
}

/** An ed25519 implementation whose `verify` answers synchronously (node:crypto, @noble/ed25519). */
export interface SyncEd25519Backend extends Ed25519Backend {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}

/**
 * Where keystores are kept. A file-system implementation ships for Node, an IndexedDB one for browsers;
 * apps may supply their own (an OS keychain, a secure enclave wrapper, …).
 */
export interface KeyStorage {
  /** A human-readable location for `name`, used in error messages (a path, a database name). */
  describe(name: string): string
  /** Reads the stored bytes, or `undefined` when nothing is stored under `name`. */
  read(name: string, options?: AbortOptions): Promise<Uint8Array | undefined>
  /**
   * Stores `data` under `name` only if nothing is stored there yet, atomically and durably.
   * Resolves `false` (and changes nothing) when something already exists.
   */
  create(name: string, data: Uint8Array, options?: AbortOptions): Promise<boolean>
  /** Atomically and durably replaces whatever is stored under `name`. */
  replace(name: string, data: Uint8Array, options?: AbortOptions): Promise<void>
}

/** What a platform module (`#platform`) provides. */
export interface Platform {
  /** The fastest ed25519 backend available here. */
  ed25519(): Promise<Ed25519Backend>
  /**
   * The fastest ed25519 backend that verifies synchronously: node:crypto in Node (the same instance as
   * `ed25519()`), @noble/ed25519 in browsers (WebCrypto has no synchronous verify).
   */
  ed25519Sync(): SyncEd25519Backend
  /** scrypt with a 32-byte output (native where the platform has it). */
  scrypt(password: Uint8Array, salt: Uint8Array, N: number, r: number, p: number): Promise<Uint8Array>
  /** Key storage in a directory (Node) or a named database (browsers). */
  defaultKeyStorage(location: string): KeyStorage
}
