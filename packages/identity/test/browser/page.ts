// The page the real-browser suite loads: it exposes the package (as bundled for browsers) to the test.
import * as identity from '../../src/index.js'
import { nobleEd25519 } from '../../src/platform/noble.js'

Object.assign(globalThis, { araliya: { ...identity, nobleEd25519 }, ready: true })
