/**
 * clap 3's "Did you mean …?" (`suggestions.rs` `did_you_mean`): the candidates whose Jaro-Winkler similarity to
 * what was typed exceeds 0.8, least similar first, as strsim 0.10 computes it.
 * mdevctl 1.2.0 is built on clap 3, so umdevctl suggests exactly what mdevctl would.
 */

/**
 * strsim 0.10's `jaro`: matches within half the longer length minus one, and a transposition counted each time a
 * match lands left of the previous one (0.10's own count, which later releases replaced; clap 3 pins 0.10).
 */
function jaro(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  if (x.length === 0 && y.length === 0) return 1;
  if (x.length === 0 || y.length === 0) return 0;
  if (x.length === 1 && y.length === 1) return x[0] === y[0] ? 1 : 0;
  const range = Math.floor(Math.max(x.length, y.length) / 2) - 1;
  const used = new Array<boolean>(y.length).fill(false);
  let matches = 0;
  let transpositions = 0;
  let last = 0;
  for (let i = 0; i < x.length; i++) {
    const lo = i > range ? i - range : 0;
    const hi = Math.min(y.length - 1, i + range);
    for (let j = lo; j <= hi; j++) {
      if (!used[j] && x[i] === y[j]) {
        used[j] = true;
        matches++;
        if (j < last) transpositions++;
        last = j;
        break;
      }
    }
  }
  if (matches === 0) return 0;
  return (matches / x.length + matches / y.length + (matches - transpositions) / matches) / 3;
}

/** strsim 0.10's `jaro_winkler`: the whole common prefix raises the score (no cap on its length), at most 1. */
function jaroWinkler(a: string, b: string): number {
  const sim = jaro(a, b);
  const x = [...a];
  const y = [...b];
  let prefix = 0;
  while (prefix < x.length && prefix < y.length && x[prefix] === y[prefix]) prefix++;
  return Math.min(1, sim + 0.1 * prefix * (1 - sim));
}

/** clap's `did_you_mean`: candidates scoring above 0.8, in ascending order of score (the best last). */
export function didYouMean(typed: string, candidates: Iterable<string>): string[] {
  return [...candidates]
    .map((c) => [jaroWinkler(typed, c), c] as const)
    .filter(([score]) => score > 0.8)
    .sort((p, q) => p[0] - q[0])
    .map(([, c]) => c);
}
