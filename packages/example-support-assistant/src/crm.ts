/** A toy CRM: case records in a JSON file. The reviewer applies approved changes to it. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export type CrmRecord = Record<string, unknown> & { updated_at?: string; updated_by?: string };

export async function updateCase(path: string, caseId: string, changes: Record<string, unknown>, by: string): Promise<CrmRecord> {
  let records: Record<string, CrmRecord> = {};
  try {
    records = JSON.parse(await readFile(path, 'utf8')) as Record<string, CrmRecord>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const record: CrmRecord = { ...records[caseId], ...changes, updated_at: new Date().toISOString(), updated_by: by };
  records[caseId] = record;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, JSON.stringify(records, null, 2) + '\n');
  await rename(`${path}.tmp`, path);
  return record;
}
