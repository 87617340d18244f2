import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'
import type { SyncEd25519Backend } from './types.js'

let configured = false

/**
 * The portable ed25519 backend (@noble/ed25519, synchronous with @noble/hashes' SHA-512). Verification
 * uses RFC 8032 strict rules (`zip215: false`) so its verdicts match node:crypto and WebCrypto.
 */
export function nobleEd25519(): SyncEd25519Backend {
  if (!configured) {
    ed.hashes.sha512 = sha512
    configured = true
  }
  return {
    name: 'noble',
    async createSigner(seed) {
      const secret = Uint8Array.from(seed)
      return (message) => ed.sign(message, secret)
    },
    verify(publicKey, message, signature) {
      if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false
      try {
        return ed.verify(signature, message, publicKey, { zip215: false })
      } catch {
        return false
      }
    }
  }
}
