/** The subset of abstract-level the level store uses. */
export interface LevelDatabase {
  readonly status: string
  open(): Promise<void>
  close(): Promise<void>
  get(key: string): Promise<Uint8Array | undefined>
  getMany(keys: string[]): Promise<(Uint8Array | undefined)[]>
  batch(
    operations: Array<{ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }>,
    options?: { sync?: boolean }
  ): Promise<void>
  iterator(options: { gte?: string; lt?: string; lte?: string; reverse?: boolean; limit?: number }): {
    nextv(size: number): Promise<Array<[string, Uint8Array]>>
    close(): Promise<void>
  }
}

/** Opens (constructs) a database at a location: a directory in Node, a database name in browsers. */
export type LevelBackend = (location: string) => LevelDatabase
