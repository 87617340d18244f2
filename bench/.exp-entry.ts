import { createDhtNode } from '@araliya/dht-node'
import { generateIdentity } from '@araliya/identity'
process.stderr.write(`loaded ${performance.now()} ${typeof createDhtNode} ${typeof generateIdentity}\n`)
