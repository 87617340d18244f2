import type { SyncEndpoint, SyncSession, SyncSessionInit } from '@araliya/interface'
import type { ComponentLogger } from '@libp2p/interface'
import type { Graph } from '../graph.js'
import { SYNC_PROTOCOL_ID, type SyncLimits } from './codec.js'
import { createSyncPeer, type SyncPeer } from './session.js'

/** Options of {@link graphSyncEndpoint}: what every session it opens shares. */
export interface GraphSyncEndpointInit {
  /** The spaces (owner addresses) to ask for and to accept. Default: every space. */
  spaces?: Iterable<string>
  /** Which spaces to serve to which peer. Default: every space to everyone. */
  share?: (space: string, peer: string) => boolean
  /** Decoder limits for what peers send. */
  limits?: Partial<SyncLimits>
  /** Aim for messages of about this size when sending many commits. Default 256 KiB. */
  targetMessageBytes?: number
  /** Deflate large commit batches where the platform has `CompressionStream`. Default true. */
  compress?: boolean
  /** Where sessions log (`araliya:graph:sync`). Default `defaultLogger()` from `@libp2p/logger`. */
  logger?: ComponentLogger
}

/** A {@link SyncEndpoint} whose sessions are graph {@link SyncPeer}s. */
export interface GraphSyncEndpoint extends SyncEndpoint {
  readonly protocol: typeof SYNC_PROTOCOL_ID
  open(init: SyncSessionInit): SyncPeer & SyncSession
}

/**
 * The graph's side of the sync seam in `@araliya/interface`: a transport (channel-p2p's graph-sync
 * carrier, a WebSocket, a test harness) opens one session per remote peer and moves its bytes, without
 * importing this package. Each session is a {@link createSyncPeer} session; a commit from that peer that
 * no honest relay sends reaches `init.onMisbehaviour` with the peer's tag.
 *
 * @example
 * ```ts
 * import { generateIdentity } from '@araliya/identity'
 * import { createGraph, graphSyncEndpoint } from '@araliya/crdt-graph'
 *
 * const alice = createGraph({ identity: await generateIdentity() })
 * const laptop = createGraph({ identity: await generateIdentity() })
 * await alice.start()
 * await laptop.start()
 * await alice.put(`${alice.address}/notes/1`, { title: 'hello' })
 *
 * // two endpoints wired back to back (a transport would carry the bytes)
 * const toLaptop = graphSyncEndpoint(alice).open({ peer: laptop.address, send: (bytes) => toAlice.receive(bytes) })
 * const toAlice = graphSyncEndpoint(laptop).open({ peer: alice.address, send: (bytes) => toLaptop.receive(bytes) })
 * await toLaptop.start()
 * await toAlice.start()
 * await toLaptop.idle()
 * ```
 */
export function graphSyncEndpoint(graph: Graph, init: GraphSyncEndpointInit = {}): GraphSyncEndpoint {
  const spaces = init.spaces === undefined ? undefined : [...init.spaces]
  const share = init.share
  return {
    protocol: SYNC_PROTOCOL_ID,
    open(session: SyncSessionInit): SyncPeer {
      const peer = session.peer
      return createSyncPeer(graph, {
        peer,
        send: (bytes) => session.send(bytes),
        ...(spaces === undefined ? {} : { spaces }),
        ...(share === undefined ? {} : { share: (space: string) => share(space, peer) }),
        ...(init.limits === undefined ? {} : { limits: init.limits }),
        ...(init.targetMessageBytes === undefined ? {} : { targetMessageBytes: init.targetMessageBytes }),
        ...(init.compress === undefined ? {} : { compress: init.compress }),
        ...(init.logger === undefined ? {} : { logger: init.logger }),
        ...(session.onError === undefined ? {} : { onError: (error: Error) => session.onError?.(error) }),
        ...(session.onMisbehaviour === undefined
          ? {}
          : { onMisbehaviour: (report) => session.onMisbehaviour?.(report) })
      })
    }
  }
}
