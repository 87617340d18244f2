import { InvalidTopicError } from './errors.js'

/** The three swarm topics every node subscribes to (short names). */
export const SWARM_TOPICS = ['agent-announcements', 'agent-messages', 'node-status'] as const
/** A short swarm topic name. */
export type SwarmTopic = (typeof SWARM_TOPICS)[number]

const NETWORK_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/
const TOPIC_PATTERN = /^[a-z0-9][a-z0-9._/-]{0,127}$/

/**
 * The wire topic of a short topic name in a network namespace: `/araliya/<network>/<topic>`.
 *
 * @throws {InvalidTopicError} when either part is not valid.
 */
export function gossipTopic(network: string, topic: string): string {
  if (!NETWORK_PATTERN.test(network)) {
    throw new InvalidTopicError(
      `network name ${JSON.stringify(network)} must be 1-64 characters of a-z 0-9 . _ - (starting with a letter or digit)`
    )
  }
  if (!TOPIC_PATTERN.test(topic)) {
    throw new InvalidTopicError(
      `topic name ${JSON.stringify(topic)} must be 1-128 characters of a-z 0-9 . _ / - (starting with a letter or digit)`
    )
  }
  return `/araliya/${network}/${topic}`
}
