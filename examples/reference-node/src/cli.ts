#!/usr/bin/env node
// The reference node's command line. Today it runs the identity demo; the swarm commands arrive with
// the packages they need.
import { resolve } from 'node:path'
import { AraliyaError } from '@araliya/interface'
import { runIdentityDemo } from './identity-demo.ts'

const USAGE = `usage: araliya <command> [--data-dir DIR]

commands:
  demo      create or load this node's identity, sign and verify (later: a local swarm demo)
  identity  print this node's address and short id`

function dataDir(args: string[]): string {
  const at = args.indexOf('--data-dir')
  const value = at >= 0 ? args[at + 1] : process.env.ARALIYA_DATA_DIR
  return resolve(value ?? '.araliya')
}

async function main(args: string[]): Promise<number> {
  const command = args[0]
  switch (command) {
    case 'demo': {
      const result = await runIdentityDemo(dataDir(args))
      console.log(JSON.stringify(result))
      return 0
    }
    case 'identity': {
      const result = await runIdentityDemo(dataDir(args), () => {})
      console.log(`${result.address} ${result.shortId}`)
      return 0
    }
    default:
      console.error(USAGE)
      return command === undefined || command === '--help' ? 0 : 2
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Typed errors carry a message that says what to do; print that, not a stack.
    if (AraliyaError.isInstance(err)) console.error(`error ${err.code}: ${err.message}`)
    else console.error(err)
    process.exit(1)
  }
)
