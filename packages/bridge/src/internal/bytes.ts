/** A byte count for messages: "3.2 MiB", "12.0 KiB", "512 bytes". */
export function bytesText(n: number): string {
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
