import { hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js'

/**
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): the subkey is HChaCha20 of the key and the nonce's first
 * 16 bytes, then ChaCha20-Poly1305 (RFC 8439) under a 12-byte nonce of 4 zero bytes and the nonce's last
 * 8. Where node:crypto is there (Node), the RFC 8439 step runs natively (several times faster than the
 * JavaScript cipher on a record-sized value); elsewhere @noble/ciphers does it all. Both give the same
 * bytes.
 */
export interface Aead {
  encrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array
  /** @throws when the tag does not verify */
  decrypt(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array
}

const TAG = 16
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** The JavaScript cipher (browsers, and the reference the native path is tested against). */
export const nobleAead: Aead = {
  encrypt: (key, nonce, aad, plaintext) => xchacha20poly1305(key, nonce, aad).encrypt(plaintext),
  decrypt: (key, nonce, aad, sealed) => xchacha20poly1305(key, nonce, aad).decrypt(sealed)
}

type NodeCrypto = typeof import('node:crypto')

function nodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
  try {
    return proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined
  } catch {
    return undefined // no built-in modules here (a browser): the JavaScript cipher is used
  }
}

function subkey(key: Uint8Array, nonce: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  // copies (a Buffer's slice() is a view into a shared pool, so never take `.buffer` of one)
  const k = new Uint32Array(Uint8Array.from(key.subarray(0, 32)).buffer)
  const n = new Uint32Array(Uint8Array.from(nonce.subarray(0, 16)).buffer)
  const out = new Uint32Array(8)
  hchacha(SIGMA, k, n, out)
  const iv = new Uint8Array(12)
  iv.set(nonce.subarray(16, 24), 4)
  return { key: new Uint8Array(out.buffer), iv }
}

function nativeAead(crypto: NodeCrypto): Aead {
  return {
    encrypt(key, nonce, aad, plaintext) {
      const sub = subkey(key, nonce)
      const cipher = crypto.createCipheriv('chacha20-poly1305', sub.key, sub.iv, { authTagLength: TAG })
      cipher.setAAD(aad, { plaintextLength: plaintext.byteLength })
      const head = cipher.update(plaintext)
      const tail = cipher.final()
      const out = new Uint8Array(head.byteLength + tail.byteLength + TAG)
      out.set(head, 0)
      out.set(tail, head.byteLength)
      out.set(cipher.getAuthTag(), head.byteLength + tail.byteLength)
      return out
    },
    decrypt(key, nonce, aad, sealed) {
      if (sealed.byteLength < TAG) throw new Error('a sealed value is shorter than its tag')
      const sub = subkey(key, nonce)
      const decipher = crypto.createDecipheriv('chacha20-poly1305', sub.key, sub.iv, { authTagLength: TAG })
      const body = sealed.subarray(0, sealed.byteLength - TAG)
      decipher.setAAD(aad, { plaintextLength: body.byteLength })
      decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG))
      const head = decipher.update(body)
      const tail = decipher.final() // throws when the tag does not verify
      const out = new Uint8Array(head.byteLength + tail.byteLength)
      out.set(head, 0)
      out.set(tail, head.byteLength)
      return out
    }
  }
}

function pick(): Aead {
  const crypto = nodeCrypto()
  if (crypto === undefined || !littleEndian) return nobleAead
  try {
    // the native cipher must exist (a Node built without it falls back)
    crypto.createCipheriv('chacha20-poly1305', new Uint8Array(32), new Uint8Array(12), { authTagLength: TAG })
    return nativeAead(crypto)
  } catch {
    return nobleAead // this Node has no chacha20-poly1305: the JavaScript cipher is used
  }
}

/** The cipher memory values are sealed with: native where the platform has it, else JavaScript. */
export const aead: Aead = pick()
