/**
 * clap 3's "Did you mean …?" (`suggestions.rs` `did_you_mean`): the candidates whose Jaro-Winkler similarity to
 * what was typed exceeds 0.8, least similar first, as strsim 0.10 computes it (no cap on the common prefix).
 * mdevctl 1.2.0 is built on clap 3, so umdevctl suggests exactly what mdevctl would.
 */

/** strsim's `jaro`: matches within half the longer length (minus one), and half-transpositions. */
export function jaro(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  if (x.length === 0 && y.length === 0) return 1;
  if (x.length === 0 || y.length === 0) return 0;
  const range = Math.max(0, Math.floor(Math.max(x.length, y.length) / 2) - 1);
  const xFlags = new Array<boolean>(x.length).fill(false);
  const yFlags = new Array<boolean>(y.length).fill(false);
  let matches = 0;
  for (let i = 0; i < x.length; i++) {
    const lo = i > range ? i - range : 0;
    const hi = Math.min(y.length, i + range + 1);
    for (let j = lo; j < hi; j++) {
      if (!yFlags[j] && x[i] === y[j]) {
        xFlags[i] = true;
        yFlags[j] = true;
        matches++;
        break;
      }
    }
  }
  if (matches === 0) return 0;
  let t = 0;
  let j = 0;
  for (let i = 0; i < x.length; i++) {
    if (!xFlags[i]) continue;
    while (!yFlags[j]) j++;
    if (x[i] !== y[j]) t++;
    j++;
  }
  const transpositions = Math.floor(t / 2);
  return (matches / x.length + matches / y.length + (matches - transpositions) / matches) / 3;
}

/** strsim's `jaro_winkler`: above 0.7, the common prefix raises the score. */
export function jaroWinkler(a: string, b: string): number {
  const sim = jaro(a, b);
  if (sim <= 0.7) return sim;
  const x = [...a];
  const y = [...b];
  let prefix = 0;
  while (prefix < x.length && prefix < y.length && x[prefix] === y[prefix]) prefix++;
  return sim + 0.1 * prefix * (1 - sim);
}

/** clap's `did_you_mean`: candidates scoring above 0.8, in ascending order of score (the best last). */
export function didYouMean(typed: string, candidates: Iterable<string>): string[] {
  return [...candidates]
    .map((c) => [jaroWinkler(typed, c), c] as const)
    .filter(([score]) => score > 0.8)
    .sort((p, q) => p[0] - q[0])
    .map(([, c]) => c);
}
