// Seeded pseudo-random numbers for TypeScript-side reproducibility (shuffles, head init in
// checkpoint conversion): mulberry32, a 32-bit generator small enough to mirror in a fixture
// script. The Rust core has its own (crates/biomeg-core/src/rng.rs).

/** Uniform draws in [0, 1) from a 32-bit state. */
export function mulberry32(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box-Muller over mulberry32). */
export function normalStream(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}
