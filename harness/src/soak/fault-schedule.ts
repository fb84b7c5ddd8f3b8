// Which fault comes next, and when: a seeded shuffle bag, so every kind is drawn once before any
// is drawn again (a short run still meets the whole list), and the order differs run to run.

/** mulberry32: a small seeded generator, so a run with the same --seed draws the same faults. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultBag<K extends string> {
  private bag: K[] = [];

  constructor(
    private readonly kinds: readonly K[],
    private readonly random: () => number,
  ) {
    if (kinds.length === 0) throw new Error('a fault bag needs at least one kind of fault');
  }

  next(): K {
    if (this.bag.length === 0) {
      this.bag = [...this.kinds];
      // Fisher-Yates with the seeded generator.
      for (let i = this.bag.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [this.bag[i], this.bag[j]] = [this.bag[j] as K, this.bag[i] as K];
      }
    }
    return this.bag.pop() as K;
  }
}

/** The wait before the next fault: the mean +-25 %, so faults do not beat in step with chunks. */
export function nextFaultDelayMs(meanSeconds: number, random: () => number): number {
  return Math.round(meanSeconds * 1000 * (0.75 + 0.5 * random()));
}

/** One of `items`, picked with the seeded generator. */
export function pick<T>(items: readonly T[], random: () => number): T {
  if (items.length === 0) throw new Error('nothing to pick from');
  return items[Math.floor(random() * items.length)] as T;
}
