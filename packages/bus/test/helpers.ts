import type { ComponentLogger, Logger } from '@libp2p/logger'

/** A ComponentLogger that records every line (a test double at the logging boundary). */
export function recordingLogger(): { logger: ComponentLogger; lines: string[]; errors: string[] } {
  const lines: string[] = []
  const errors: string[] = []
  const make = (component: string): Logger => {
    const log = ((format: string) => {
      lines.push(`${component} ${format}`)
    }) as Logger
    log.error = (format: string, ...args: unknown[]) => {
      errors.push(`${component} ${format} ${args.map(String).join(' ')}`)
    }
    log.trace = () => {}
    log.enabled = true
    log.newScope = (name: string) => make(`${component}:${name}`)
    return log
  }
  return { logger: { forComponent: make }, lines, errors }
}

/** Resolves after `turns` rounds of microtasks. */
export async function microtasks(turns = 1): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve()
}
