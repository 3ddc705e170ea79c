/**
 * "Did you mean" hints for mistyped names (manifest fields, option keys).
 * A name is matched to a known one when they differ only in case and
 * separators (`loads_after`, `Loads-After` → `loads-after`; `max_attempts` →
 * `maxAttempts`), when one contains the other (`attempts` → `maxAttempts`),
 * or when they are a few typos apart (`maxAttempt`, `timout`, `prority`).
 */

/** The known name `name` most likely meant, or undefined when none is close. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const wanted = normalise(name);
  if (wanted === '') return undefined;
  const same = known.find((candidate) => normalise(candidate) === wanted);
  if (same !== undefined) return same;
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const other = normalise(candidate);
    // A third of the name may be wrong, never more than 3 characters: beyond that a hint is a guess.
    const limit = Math.min(3, Math.floor(Math.max(wanted.length, other.length) / 3));
    const distance = editDistance(wanted, other);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  if (best !== undefined) return best.name;
  // A part of the name (`attempts` for `maxAttempts`), long enough not to match by chance.
  return wanted.length >= 4 ? known.find((candidate) => normalise(candidate).includes(wanted)) : undefined;
}

/** ` (did you mean "maxAttempts"?)` for `maxAttempt`, or an empty string when no known name is close. */
export function didYouMean(name: string, known: readonly string[]): string {
  const match = closestName(name, known);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each count 1. */
function editDistance(a: string, b: string): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, before[j - 2]! + 1);
      current.push(distance);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}
