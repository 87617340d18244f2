import { BrowserLevel } from 'browser-level'
import type { LevelBackend } from './level-backend.js'

/** browser-level (IndexedDB) in browsers. */
export const openBackend: LevelBackend = (location) =>
  new BrowserLevel<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })

/** IndexedDB commits transactions durably on its own; `sync` is ignored there. */
export const SYNC_WRITES = false
