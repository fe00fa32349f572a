/**
 * The write-ahead log's record encoding: a JSON header, optionally followed by binary data
 * (a raw request, or a sealed batch's RowBinary rows).
 *
 *   JSON only:   '{' ... '}'
 *   with data:   0x01 | u32 LE header length | header JSON | data
 */
export interface RecordHeader {
  t: string;
  [key: string]: unknown;
}

const WITH_DATA = 0x01;

export function encodeRecord(header: object, data?: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (!data) return json;
  const out = Buffer.allocUnsafe(5 + json.length + data.length);
  out[0] = WITH_DATA;
  out.writeUInt32LE(json.length, 1);
  json.copy(out, 5);
  data.copy(out, 5 + json.length);
  return out;
}

export function decodeRecord(record: Buffer): { header: RecordHeader; body?: Buffer } {
  if (record[0] !== WITH_DATA) return { header: JSON.parse(record.toString('utf8')) as RecordHeader };
  const len = record.readUInt32LE(1);
  return {
    header: JSON.parse(record.subarray(5, 5 + len).toString('utf8')) as RecordHeader,
    body: record.subarray(5 + len),
  };
}
