/** Checks an optional positive duration in ms; `fallback` when it is undefined. */
export function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${String(value)}`)
  }
  return value
}

/** Checks an optional whole number >= 1 (or Infinity when `allowInfinity`); `fallback` when it is undefined. */
export function positiveInteger(
  value: number | undefined,
  fallback: number,
  name: string,
  allowInfinity = false
): number {
  if (value === undefined) return fallback
  const whole = Number.isInteger(value) || (allowInfinity && value === Number.POSITIVE_INFINITY)
  if (typeof value !== 'number' || !whole || value < 1) {
    throw new RangeError(`${name} must be a whole number >= 1, got ${String(value)}`)
  }
  return value
}

/** Checks an optional duration in ms (0 allowed only with `allowZero`); `fallback` when it is undefined. */
export function milliseconds(
  value: number | undefined,
  fallback: number,
  name: string,
  allowZero = false
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new RangeError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of ms, got ${value}`
    )
  }
  return value
}
