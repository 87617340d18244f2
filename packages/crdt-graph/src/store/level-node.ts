import { ClassicLevel } from 'classic-level'
import type { LevelBackend } from './level-backend.js'

/** classic-level (LevelDB) in Node. */
export const openBackend: LevelBackend = (location) =>
  new ClassicLevel<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })

/** Whether `sync: true` writes are meaningful here (they are: LevelDB fsyncs its log). */
export const SYNC_WRITES = true
