// Starting parts under a Supervisor, failing fast: the one policy the node and the demo share.
import type { Subsystem, Supervisor } from '@araliya/bus'

/**
 * Registers `parts` with `supervisor` and starts them in dependency order. The first part that cannot
 * start ends the start: the supervisor stops what had started, and that part's own error is thrown (not
 * the supervisor's wrapper), because at start an error means the configuration is wrong and retrying it
 * only delays the message. Once the start has succeeded, a part that fails is restarted per the
 * supervisor's policy.
 *
 * @throws the error of the first part that could not start, or AbortedError when `signal` fires.
 */
export async function startParts(
  supervisor: Supervisor,
  parts: ReadonlyArray<Subsystem>,
  signal?: AbortSignal
): Promise<void> {
  const startup = new AbortController()
  let first: { error: unknown } | undefined
  let starting = true
  for (const part of parts) {
    supervisor.register({
      ...part,
      start: async (context) => {
        try {
          await part.start(context)
        } catch (err) {
          if (starting) {
            first ??= { error: err }
            startup.abort(err)
          }
          throw err
        }
      }
    })
  }
  try {
    await supervisor.start({
      signal: signal === undefined ? startup.signal : AbortSignal.any([startup.signal, signal])
    })
  } catch (err) {
    // The supervisor has stopped every part already when its start was aborted; this covers the rest.
    await supervisor.stop()
    throw first === undefined ? err : first.error
  } finally {
    starting = false
  }
}
