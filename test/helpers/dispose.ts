/** Runs `use` on what `open` gives (a model, an embedder...), then disposes it whatever happens. */
export async function withDisposed<T extends { dispose(): void }>(open: T | Promise<T>, use: (x: T) => void | Promise<void>): Promise<void> {
  const x = await open;
  try {
    await use(x);
  } finally {
    x.dispose();
  }
}
