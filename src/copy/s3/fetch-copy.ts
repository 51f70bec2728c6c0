// An s3 copy brought back into a directory (docs/copies.md#restoring-from-a-bucket), which is then
// a repository: every object under the copy's prefix, or only one VM's, or only what one point
// needs (its chain: each disk's manifest names its parent). The marker and the keyring always
// come. Files already there with the object's bytes are kept, so a fetch stopped half-way is run
// again; a directory that holds anything else is refused before anything is written.

import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { isSendenseError, SendenseError } from '../../errors.js';
import type { S3CopyTo } from '../../plan/types.js';
import { KEYRING_FILE } from '../../repository/keyring.js';
import { REPOSITORY_MARKER } from '../../repository/marker.js';
import { s3Problem } from './s3-client.js';
import { s3Description } from './s3-description.js';
import { downloadObject, type ObjectToFetch, type OtherLayoutCheck } from './s3-download.js';
import { parseManifest } from '../../repository/manifest-file.js';
import { verifyLayer } from '../../repository/verify-layer.js';
import { checkedKeyPath, placeInside } from './key-path.js';
import { unquote } from './s3-upload.js';

const MANIFEST = /^[^/]+\/disk-\d+\/[^/]+\.json$/;

export interface FetchChoice {
  readonly vm?: string;
  /** A point id of `vm`, or 'latest'. */
  readonly point?: string;
  /** Backup files (`.qcow2`) are not brought: they are listed in `lazy`, to be read where they are. */
  readonly lazy?: boolean;
}

export interface Fetched {
  /** Relative paths brought now, and kept (already there with the same bytes). */
  readonly fetched: readonly string[];
  readonly kept: readonly string[];
  readonly bytes: number;
  /** The point fetched, when one was asked for. */
  readonly point?: string;
  /** With `lazy`: the backup files left in the bucket, by relative path, each with its place in the directory. */
  readonly lazy: ReadonlyMap<string, ObjectToFetch & { readonly file: string }>;
}

export async function fetchCopy(
  client: S3Client,
  to: S3CopyTo,
  dir: string,
  choice: FetchChoice,
  heard: (relative: string) => void = () => {},
): Promise<Fetched> {
  const description = s3Description(to);
  const base = to.prefix === '' ? '' : `${to.prefix}/`;
  const objects = new Map<string, ObjectToFetch>();
  let token: string | undefined;
  do {
    const page = await client
      .send(new ListObjectsV2Command({ Bucket: to.bucket, Prefix: base, ContinuationToken: token }))
      .catch((error: unknown) => {
        throw s3Problem(description, 'cannot list the copy', error);
      });
    // Every key checked before anything is written: whoever writes the bucket chooses them.
    for (const object of page.Contents ?? [])
      objects.set(checkedKeyPath(object.Key!, object.Key!.slice(base.length), description), {
        key: object.Key!,
        size: object.Size ?? 0,
        etag: unquote(object.ETag),
      });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  if (!objects.has(REPOSITORY_MARKER))
    throw new SendenseError(`${description} is not a copy: it has no ${REPOSITORY_MARKER}`);
  await refuseForeignDir(dir, objects.get(REPOSITORY_MARKER)!, client, to.bucket);

  const wanted = await chosen(client, to, objects, choice, description);
  const fetched: string[] = [];
  const kept: string[] = [];
  const lazy = new Map<string, ObjectToFetch & { file: string }>();
  let bytes = 0;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const relative of wanted.files) {
    const file = await placeInside(dir, relative);
    if (choice.lazy === true && relative.endsWith('.qcow2')) {
      lazy.set(relative, { ...objects.get(relative)!, file });
      continue;
    }
    const object = objects.get(relative)!;
    const outcome = await downloadObject(
      client,
      to.bucket,
      object,
      file,
      undefined,
      otherLayoutCheck(client, to.bucket, objects, relative),
    ).catch((error: unknown) => {
      // Our own refusals (a file that differs from its manifest) say it whole.
      throw isSendenseError(error)
        ? new SendenseError(`${description}: ${error.message}`, { cause: error })
        : s3Problem(description, `cannot fetch ${relative}`, error);
    });
    if (outcome === 'kept') kept.push(relative);
    else {
      fetched.push(relative);
      bytes += object.size;
    }
    heard(relative);
  }
  return { fetched, kept, bytes, lazy, ...(wanted.point !== undefined && { point: wanted.point }) };
}

// The relative paths to fetch, the marker first and the manifests last (a point is whole once they are there).
async function chosen(
  client: S3Client,
  to: S3CopyTo,
  objects: ReadonlyMap<string, ObjectToFetch>,
  choice: FetchChoice,
  description: string,
): Promise<{ files: string[]; point?: string }> {
  const always = [REPOSITORY_MARKER, KEYRING_FILE].filter((name) => objects.has(name));
  const order = (files: string[]) => [
    ...always,
    ...files.filter((file) => !file.endsWith('.json')).sort(),
    ...files.filter((file) => file.endsWith('.json')).sort(),
  ];
  const all = [...objects.keys()].filter((relative) => !always.includes(relative));
  if (choice.vm === undefined) return { files: order(all) };
  const ofVm = all.filter((relative) => relative.startsWith(`${choice.vm}/`));
  if (ofVm.length === 0) throw new SendenseError(`${description} has no point of VM ${choice.vm}`);
  if (choice.point === undefined) return { files: order(ofVm) };
  const manifests = ofVm.filter((relative) => MANIFEST.test(relative));
  const ids = [...new Set(manifests.map((relative) => path.posix.basename(relative, '.json')))].sort();
  const point = choice.point === 'latest' ? ids.at(-1) : choice.point;
  if (point === undefined || !ids.includes(point))
    throw new SendenseError(
      `${description} has no point ${choice.point} of VM ${choice.vm}${ids.length > 0 ? ` (its newest: ${ids.at(-1)})` : ''}`,
    );
  const files = new Set<string>();
  for (const disk of new Set(
    manifests.filter((relative) => relative.endsWith(`/${point}.json`)).map((relative) => path.posix.dirname(relative)),
  )) {
    // Down the chain by each manifest's parent, to the full. Whoever can write the bucket writes the
    // manifests too (docs/threat-model.md): each is read as one, and a chain that comes back to an
    // id it passed is refused rather than walked for ever.
    const seen = new Set<string>();
    for (let id: string | null = point; id !== null;) {
      if (seen.has(id))
        throw new SendenseError(
          `${description}: the chain of point ${point} in ${disk} comes back to ${id}: not fetched`,
        );
      seen.add(id);
      const manifest: string = `${disk}/${id}.json`;
      if (!objects.has(manifest) || !objects.has(`${disk}/${id}.qcow2`))
        throw new SendenseError(`${description}: point ${point} needs ${id} of ${disk}, which is not complete there`);
      files.add(manifest).add(`${disk}/${id}.qcow2`);
      const xml = `${choice.vm}/domain/${id}.xml`;
      if (objects.has(xml)) files.add(xml);
      id = parseManifest(await readObject(client, to.bucket, objects.get(manifest)!.key), manifest).parentId;
    }
  }
  return { files: order([...files]), point };
}

// An object another tool put in another part layout: a backup file is checked against its
// manifest's digests (the authority whatever the layout), a manifest by reading it as one.
function otherLayoutCheck(
  client: S3Client,
  bucket: string,
  objects: ReadonlyMap<string, ObjectToFetch>,
  relative: string,
): OtherLayoutCheck | undefined {
  if (MANIFEST.test(relative)) return async (partial) => void parseManifest(await readFile(partial, 'utf8'), relative);
  if (!relative.endsWith('.qcow2')) return undefined;
  return async (partial) => {
    const manifest = objects.get(relative.replace(/\.qcow2$/, '.json'));
    const unchecked = (why: string) =>
      new SendenseError(
        `${relative} was uploaded in another part layout than ours (ETag ${objects.get(relative)!.etag}) and ${why}: not fetched`,
      );
    if (manifest === undefined) throw unchecked('has no manifest beside it to check it against');
    const result = await verifyLayer(
      partial,
      parseManifest(await readObject(client, bucket, manifest.key), relative.replace(/\.qcow2$/, '.json')),
    ).catch((error: unknown) => {
      throw unchecked(
        `cannot be checked against its manifest (${error instanceof Error ? error.message : String(error)})`,
      );
    });
    if (!result.digestsChecked && result.findings.length === 0)
      throw unchecked('its manifest holds no digests to check it against');
    if (result.findings.length > 0)
      throw new SendenseError(`${relative} differs from its manifest (${result.findings[0]!.message}): not fetched`);
  };
}

async function readObject(client: S3Client, bucket: string, key: string): Promise<string> {
  const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return answer.Body!.transformToString('utf8');
}

// Missing or empty, or an earlier fetch of this copy (the same marker): nothing else is written into.
async function refuseForeignDir(dir: string, marker: ObjectToFetch, client: S3Client, bucket: string): Promise<void> {
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw new SendenseError(`cannot use ${dir}: ${error.code ?? error.message}`, { exitCode: 2 });
  });
  if (entries.length === 0) return;
  const ours = await readFile(path.join(dir, REPOSITORY_MARKER), 'utf8').catch(() => undefined);
  if (ours !== undefined && ours === (await readObject(client, bucket, marker.key))) return;
  throw new SendenseError(`${dir} is not empty and is not a fetch of this copy: choose an empty or new directory`, {
    exitCode: 2,
  });
}
