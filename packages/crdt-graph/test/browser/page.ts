// The page the real-browser suite loads: the package as bundled for browsers (browser-level store).
import * as identity from '@araliya/identity'
import * as graph from '../../src/index.js'
import { levelStore } from '../../src/store/level.js'

Object.assign(globalThis, { araliya: { ...graph, levelStore, identity }, ready: true })
