// The operator errors of the command line: one class per condition, each with a message that says what is
// wrong and what to do. The CLI prints `error <code>: <message>` on one line, escaped (messages may quote
// the command line or the network), and exits non-zero.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AraliyaError } from '@araliya/interface'

/** The command line itself is wrong: an unknown flag, a missing or malformed value. Exit code 2. */
export class UsageError extends AraliyaError {
  static override readonly code: string = 'ERR_USAGE'
  override name = 'UsageError'
}

/** The node could not listen on a `--listen` address. */
export class ListenError extends AraliyaError {
  static override readonly code: string = 'ERR_LISTEN'
  override name = 'ListenError'
}

/** A `--listen` port is taken by another process. */
export class AddressInUseError extends ListenError {
  static override readonly code: string = 'ERR_ADDRESS_IN_USE'
  override name = 'AddressInUseError'
}

/** A `--listen` IP address is not one of this machine's, or this user may not bind it. */
export class AddressNotAvailableError extends ListenError {
  static override readonly code: string = 'ERR_ADDRESS_NOT_AVAILABLE'
  override name = 'AddressNotAvailableError'
}

/** A `--listen` address uses a transport this node does not run (only TCP and WebSockets over TCP). */
export class UnsupportedListenAddressError extends ListenError {
  static override readonly code: string = 'ERR_LISTEN_UNSUPPORTED'
  override name = 'UnsupportedListenAddressError'
}

/** The data folder cannot be created or written. */
export class DataDirError extends AraliyaError {
  static override readonly code: string = 'ERR_DATA_DIR'
  override name = 'DataDirError'
}

/** Why a file-system call failed, in words, from its `code`. */
function fsReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  switch (code) {
    case 'ENOTDIR':
      return 'a file is in the way (a part of the path is not a folder)'
    case 'EEXIST':
      return 'a file with that name is in the way'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EROFS':
      return 'the file system is read-only'
    case 'ENOSPC':
      return 'no space left on the device'
    default:
      return err instanceof Error ? err.message : String(err)
  }
}

/**
 * Checks, before any part of the node opens a file, that `dir` exists or can be created and that this
 * user can write in it: a probe file is written and removed. (Root passes any permission check, so
 * only a real write tells.)
 *
 * @throws {DataDirError} saying why and what to do.
 */
export async function ensureWritableDataDir(dir: string): Promise<void> {
  const probe = join(dir, `.write-test-${process.pid}`)
  try {
    await mkdir(dir, { recursive: true })
    await writeFile(probe, '')
  } catch (err) {
    throw new DataDirError(
      `cannot use ${dir} as the data folder: ${fsReason(err)}; pass --data-dir with a folder this user can write to`,
      { cause: err }
    )
  }
  await rm(probe, { force: true })
}

/**
 * Turns libp2p's "some configured addresses failed to be listened on" error into one of ours. libp2p
 * gives no structured causes, only a message with one `  <multiaddr>: <error>` line per failed address;
 * that is parsed here. Any other error is returned unchanged.
 */
export function explainStartError(err: unknown): unknown {
  if ((err as { name?: unknown } | null)?.name !== 'UnsupportedListenAddressesError') return err
  const message = (err as Error).message
  const failures = [...message.matchAll(/^ {2}(\/\S+): (.*)$/gm)].map(([, addr, why]) => ({
    addr: addr as string,
    why: why as string
  }))
  const first = failures[0]
  if (first === undefined) {
    return new ListenError(`could not listen: ${message}; check the --listen addresses`, {
      cause: err
    })
  }
  const addr = first.addr
  if (first.why.includes('EADDRINUSE')) {
    return new AddressInUseError(
      `cannot listen on ${addr}: the port is already in use (another node?); stop that process, or pick ` +
        'another port (tcp/0 takes any free one)',
      { cause: err }
    )
  }
  if (/EADDRNOTAVAIL|EACCES|EPERM/.test(first.why)) {
    return new AddressNotAvailableError(
      `cannot listen on ${addr}: this machine has no such address, or this user may not use it ` +
        '(ports below 1024 need privileges); use one of its own IP addresses, or 127.0.0.1, or a higher port',
      { cause: err }
    )
  }
  if (first.why.includes('No transport')) {
    return new UnsupportedListenAddressError(
      `cannot listen on ${addr}: this node listens on TCP only, e.g. /ip4/127.0.0.1/tcp/4001 or ` +
        '/ip4/127.0.0.1/tcp/4002/ws',
      { cause: err }
    )
  }
  return new ListenError(`cannot listen on ${addr}: ${first.why}; check the --listen address`, {
    cause: err
  })
}
