/** Saves a Blob as a file, as a download the browser names `filename`. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Long enough for the browser to have taken the file.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A name that is safe as a file name, from an id: "CASE-123" → "CASE-123". */
export function fileSafe(name: string, fallback = 'events'): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || fallback;
}
