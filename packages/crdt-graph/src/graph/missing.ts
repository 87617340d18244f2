import type { AbortOptions } from '@araliya/interface'
import type { ChainNode, CommitRef } from '../chain.js'
import { commitId, SIGNATURE_BYTES } from '../commit.js'
import type { GraphStore } from '../store/types.js'
import type { Chains } from './chains.js'
import type { MissingCommits } from './types.js'

/**
 * Reads from the store, in batches and parents first, the commits of one chain that a peer holding
 * `heads` (and so all their ancestors) lacks. See `Graph.readMissing`.
 */
export async function* readMissing(
  chains: Chains,
  store: GraphStore,
  space: string,
  author: string,
  heads: readonly CommitRef[],
  options?: AbortOptions
): AsyncGenerator<MissingCommits> {
  const chain = chains.get(space, author)
  if (chain === undefined) return
  const have: ChainNode[] = []
  for (const head of heads) {
    const node = chain.get(head.seq, head.id)
    if (node !== undefined) have.push(node)
  }
  for (const range of chain.missing(have)) {
    for (let from = range.from; from <= range.to; from += 512) {
      const to = Math.min(range.to, from + 511)
      let envelopes = await store.readChain(space, author, from, to, options)
      // Where the chain forked, a position holds commits of several branches: keep this branch's.
      if (chain.forkSeq > 0 && to >= chain.forkSeq) {
        envelopes = envelopes.filter((envelope) => {
          const node = chain.findForked(commitId(envelope.subarray(SIGNATURE_BYTES)))
          return node === undefined || node.branch === range.branch
        })
      }
      // A branch has one commit per position, and durable commits are a prefix of it.
      if (envelopes.length > 0) yield { envelopes, seq: from + envelopes.length - 1 }
    }
  }
}
