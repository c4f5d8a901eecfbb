/** sha256 via WebCrypto, available in workerd, Node ≥ 20 and browsers alike. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  return digestHex(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
}

/** A digest as lowercase hex, as manifests store it. */
export function digestHex(digest: ArrayBuffer): string {
  let hex = '';
  for (const b of new Uint8Array(digest)) hex += b.toString(16).padStart(2, '0');
  return hex;
}
